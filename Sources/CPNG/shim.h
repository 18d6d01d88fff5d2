#ifndef CPNG_SHIM_H
#define CPNG_SHIM_H
// libpng's classic API reports errors with longjmp, which must never cross Swift frames. So each
// operation is one C function here: setjmp lives in C, Swift sees a return value, and a failure comes
// back as a message (a thread-local buffer, valid until the next call on the same thread).
// Only CamwatchImage imports this module.
#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/// Everything a decode or encode owns, kept in memory (not registers) so that it is still valid after
/// libpng longjmps back into the function that called setjmp.
typedef struct {
    FILE *file;
    png_structp png;
    png_infop info;
    unsigned char *pixels;
    png_bytep *rows;
    char message[200];
    char warning[200];
} cpng_state_;

static inline char *cpng_message_buffer_(void) {
    static _Thread_local char buffer[256];
    return buffer;
}

static inline const char *cpng_fail_(const char *prefix, const char *detail) {
    char *buffer = cpng_message_buffer_();
    snprintf(buffer, 256, "%s%s", prefix, detail);
    return buffer;
}

static inline void cpng_error_(png_structp png, png_const_charp message) {
    cpng_state_ *state = (cpng_state_ *)png_get_error_ptr(png);
    snprintf(state->message, sizeof state->message, "%s", message);
    png_longjmp(png, 1);
}

// libpng warnings (e.g. a bad ancillary-chunk CRC, which it then ignores) are not errors for camwatch,
// but the last one often explains the error that follows ("Image width exceeds user limit in IHDR").
static inline void cpng_warning_(png_structp png, png_const_charp message) {
    cpng_state_ *state = (cpng_state_ *)png_get_error_ptr(png);
    snprintf(state->warning, sizeof state->warning, "%s", message);
}

static inline void cpng_read_data_(png_structp png, png_bytep data, size_t length) {
    cpng_state_ *state = (cpng_state_ *)png_get_io_ptr(png);
    if (fread(data, 1, length, state->file) != length) {
        png_error(png, ferror(state->file) ? "read error" : "unexpected end of file (truncated PNG)");
    }
}

static inline void cpng_release_(cpng_state_ *state, int reading) {
    if (state->png != NULL) {
        if (reading) png_destroy_read_struct(&state->png, &state->info, NULL);
        else png_destroy_write_struct(&state->png, &state->info);
    }
    free(state->rows);
    state->rows = NULL;
    if (state->file != NULL) fclose(state->file);
    free(state);
}

/// The size of a PNG as its header declares it, and how its rows come out of `cpng_reader_next_row`.
typedef struct {
    uint32_t width;
    uint32_t height;
    /// 8 or 16: bits per sample of the RGB rows the reader hands out (16-bit samples big-endian, as stored).
    int bit_depth;
    int interlaced;
} cpng_header;

/// An open PNG being decoded row by row: RGB rows top to bottom, so a caller can reduce or convert each
/// row as it arrives and never hold the whole image. Close it with `cpng_reader_close`.
typedef struct {
    cpng_state_ *state;
    cpng_header header;
    size_t row_bytes;
    uint32_t next_row;
} cpng_reader;

static inline const char *cpng_decode_failure_(cpng_state_ *state) {
    char *failure = cpng_message_buffer_();
    if (state->warning[0] != '\0') {
        snprintf(failure, 256, "cannot decode PNG: %s (%s)", state->message, state->warning);
    } else {
        snprintf(failure, 256, "cannot decode PNG: %s", state->message);
    }
    return failure;
}

/// Closes a reader from `cpng_reader_open` (any state, also after a failure).
static inline void cpng_reader_close(cpng_reader *reader) {
    if (reader == NULL) return;
    if (reader->state != NULL) {
        free(reader->state->pixels);
        cpng_release_(reader->state, 1);
    }
    free(reader);
}

/// Opens the PNG at `path` and reads its header, set up to hand out RGB rows: palette expanded, gray (any
/// depth) expanded and replicated, alpha and tRNS transparency dropped (colours as stored, like PIL's
/// `convert("RGB")`), no gamma or colour-space conversion, 16 bits kept. An image of more than
/// `max_pixels` pixels is refused from its header, before anything is allocated for it. 16-bit samples
/// stay big-endian, as PNG stores them. With
/// `header_only` the reader stops after the header (`*out` is still set; rows may not be read). Returns
/// NULL on success with `*out` set, else the reason (and `*out` is NULL).
static inline const char *cpng_reader_open(const char *path, uint64_t max_pixels, int header_only,
                                           cpng_reader **out) {
    *out = NULL;
    cpng_reader *reader = (cpng_reader *)calloc(1, sizeof(cpng_reader));
    // On the heap: the C standard leaves locals changed after setjmp indeterminate after the longjmp.
    cpng_state_ *state = (cpng_state_ *)calloc(1, sizeof(cpng_state_));
    if (reader == NULL || state == NULL) {
        free(reader);
        free(state);
        return cpng_fail_("out of memory", "");
    }
    reader->state = state;
    state->file = fopen(path, "rb");
    if (state->file == NULL) {
        const char *failure = cpng_fail_("cannot open file: ", strerror(errno));
        cpng_reader_close(reader);
        return failure;
    }
    unsigned char signature[8];
    size_t got = fread(signature, 1, 8, state->file);
    if (got == 0) {
        cpng_reader_close(reader);
        return cpng_fail_("empty file (0 bytes)", ", not a PNG image");
    }
    if (got < 8 || png_sig_cmp(signature, 0, 8) != 0) {
        cpng_reader_close(reader);
        return cpng_fail_("not a PNG image", " (no PNG signature)");
    }
    state->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, state, cpng_error_, cpng_warning_);
    if (state->png == NULL) {
        cpng_reader_close(reader);
        return cpng_fail_("libpng: ", "cannot create read struct");
    }
    state->info = png_create_info_struct(state->png);
    if (state->info == NULL) {
        cpng_reader_close(reader);
        return cpng_fail_("libpng: ", "cannot create info struct");
    }
    if (setjmp(png_jmpbuf(state->png))) {
        const char *failure = cpng_decode_failure_(state);
        cpng_reader_close(reader);
        return failure;
    }
    png_set_read_fn(state->png, state, cpng_read_data_);
    png_set_sig_bytes(state->png, 8);
    // Probes are photographs; far larger dimensions are a damaged or hostile header.
    png_set_user_limits(state->png, 1u << 15, 1u << 15);
    png_read_info(state->png, state->info);

    png_uint_32 width = 0, height = 0;
    int depth = 0, color = 0, interlace = 0;
    png_get_IHDR(state->png, state->info, &width, &height, &depth, &color, &interlace, NULL, NULL);
    if ((uint64_t)width * (uint64_t)height > max_pixels) {
        char reason[160];
        snprintf(reason, sizeof reason, "the header declares %lux%lu = %llu pixels, more than the limit of %llu",
                 (unsigned long)width, (unsigned long)height, (unsigned long long)width * height,
                 (unsigned long long)max_pixels);
        png_error(state->png, reason);
    }
    reader->header.width = width;
    reader->header.height = height;
    reader->header.bit_depth = depth == 16 ? 16 : 8;
    reader->header.interlaced = interlace != PNG_INTERLACE_NONE;
    if (header_only) {
        *out = reader;
        return NULL;
    }
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(state->png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(state->png);
    if ((color & PNG_COLOR_MASK_ALPHA) != 0 || png_get_valid(state->png, state->info, PNG_INFO_tRNS) != 0) {
        png_set_strip_alpha(state->png);
    }
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(state->png);
    (void)png_set_interlace_handling(state->png);
    png_read_update_info(state->png, state->info);

    int channels = png_get_channels(state->png, state->info);
    int out_depth = png_get_bit_depth(state->png, state->info);
    size_t row_bytes = png_get_rowbytes(state->png, state->info);
    if (channels != 3 || (out_depth != 8 && out_depth != 16) ||
        row_bytes != (size_t)width * 3u * (size_t)(out_depth / 8)) {
        png_error(state->png, "unsupported PNG layout after conversion to RGB");
    }
    reader->header.bit_depth = out_depth;
    reader->row_bytes = row_bytes;
    if (reader->header.interlaced) {
        // Adam7 completes a row only in the last pass that touches it, so an interlaced image is decoded
        // whole here (at most max_pixels × 6 bytes) and handed out row by row from memory.
        if (height != 0 && row_bytes > SIZE_MAX / height) png_error(state->png, "image too large");
        state->pixels = (unsigned char *)malloc(row_bytes * height);
        state->rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
        if (state->pixels == NULL || state->rows == NULL) png_error(state->png, "out of memory");
        for (png_uint_32 y = 0; y < height; y++) state->rows[y] = state->pixels + (size_t)y * row_bytes;
        png_read_image(state->png, state->rows);
    }
    *out = reader;
    return NULL;
}

/// Copies the next RGB row (`header.width × 3` samples of `header.bit_depth` bits) into `row`; after the
/// last row, checks the rest of the file. Returns NULL on success, else the reason (then only
/// `cpng_reader_close` may follow).
static inline const char *cpng_reader_next_row(cpng_reader *reader, unsigned char *row) {
    cpng_state_ *state = reader->state;
    if (reader->next_row >= reader->header.height) return cpng_fail_("libpng: ", "read past the last row");
    if (setjmp(png_jmpbuf(state->png))) return cpng_decode_failure_(state);
    if (reader->header.interlaced) {
        memcpy(row, state->rows[reader->next_row], reader->row_bytes);
    } else {
        png_read_row(state->png, row, NULL);
    }
    reader->next_row += 1;
    if (reader->next_row == reader->header.height) png_read_end(state->png, NULL);
    return NULL;
}

/// Frees memory returned by `cpng_encode_8bit`.
static inline void cpng_free(void *pointer) { free(pointer); }

// Encodes 8-bit RGB/RGBA rows into `state->file` (already open); NULL on success, else the reason. The
// state is released by the caller.
static inline const char *cpng_encode_into_(cpng_state_ *state, uint32_t width, uint32_t height, int channels,
                                           const unsigned char *pixels) {
    state->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, state, cpng_error_, cpng_warning_);
    if (state->png == NULL) return cpng_fail_("libpng: ", "cannot create write struct");
    state->info = png_create_info_struct(state->png);
    if (state->info == NULL) return cpng_fail_("libpng: ", "cannot create info struct");
    if (setjmp(png_jmpbuf(state->png))) return cpng_fail_("cannot write PNG: ", state->message);
    png_init_io(state->png, state->file);
    // zlib level 3 instead of 6: camwatch draws charts and overlays after every checkpoint, and on these flat
    // synthetic pictures level 6 takes 2-3x the time for files about 12 % smaller (sample timeline.png: 296 vs
    // 88 ms, 1.64 vs 1.85 MB).
    png_set_compression_level(state->png, 3);
    png_set_IHDR(state->png, state->info, width, height, 8, channels == 4 ? PNG_COLOR_TYPE_RGBA : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(state->png, state->info);
    size_t row_bytes = (size_t)width * (size_t)channels;
    for (uint32_t y = 0; y < height; y++) png_write_row(state->png, pixels + (size_t)y * row_bytes);
    png_write_end(state->png, NULL);
    png_destroy_write_struct(&state->png, &state->info);
    state->png = NULL;
    return NULL;
}

/// Writes 8-bit RGB (`channels` 3) or RGBA (4) pixels, rows top to bottom, to `path`, then flushes and
/// fsyncs the file. Returns NULL on success, else the reason.
static inline const char *cpng_write_8bit(const char *path, uint32_t width, uint32_t height, int channels,
                                          const unsigned char *pixels) {
    if (channels != 3 && channels != 4) return cpng_fail_("libpng: ", "channels must be 3 or 4");
    cpng_state_ *state = (cpng_state_ *)calloc(1, sizeof(cpng_state_));
    if (state == NULL) return cpng_fail_("out of memory", "");
    state->file = fopen(path, "wb");
    if (state->file == NULL) {
        free(state);
        return cpng_fail_("cannot create file: ", strerror(errno));
    }
    const char *failure = cpng_encode_into_(state, width, height, channels, pixels);
    if (failure != NULL) {
        cpng_release_(state, 0);
        return failure;
    }
    if (fflush(state->file) != 0 || fsync(fileno(state->file)) != 0) {
        failure = cpng_fail_("cannot write file: ", strerror(errno));
        cpng_release_(state, 0);
        return failure;
    }
    int closed = fclose(state->file);
    int error = errno;
    state->file = NULL;
    cpng_release_(state, 0);
    if (closed != 0) return cpng_fail_("cannot write file: ", strerror(error));
    return NULL;
}

/// Encodes 8-bit RGB (`channels` 3) or RGBA (4) pixels, rows top to bottom, as a PNG in memory. On success
/// returns NULL and sets `*out` (free it with `cpng_free`) and `*out_size`; else returns the reason.
static inline const char *cpng_encode_8bit(uint32_t width, uint32_t height, int channels,
                                           const unsigned char *pixels, unsigned char **out, size_t *out_size) {
    *out = NULL;
    *out_size = 0;
    if (channels != 3 && channels != 4) return cpng_fail_("libpng: ", "channels must be 3 or 4");
    cpng_state_ *state = (cpng_state_ *)calloc(1, sizeof(cpng_state_));
    if (state == NULL) return cpng_fail_("out of memory", "");
    // open_memstream owns the buffer until fclose, which publishes its final address and size.
    char *buffer = NULL;
    size_t size = 0;
    state->file = open_memstream(&buffer, &size);
    if (state->file == NULL) {
        free(state);
        return cpng_fail_("cannot open a memory stream: ", strerror(errno));
    }
    const char *failure = cpng_encode_into_(state, width, height, channels, pixels);
    int closed = fclose(state->file);
    state->file = NULL;
    cpng_release_(state, 0);
    if (failure == NULL && closed != 0) failure = cpng_fail_("cannot encode PNG: ", "memory stream failed");
    if (failure != NULL) {
        free(buffer);
        return failure;
    }
    *out = (unsigned char *)buffer;
    *out_size = size;
    return NULL;
}

/// Renames `from` to `to` (atomically replacing it) and fsyncs `directory` so the rename is durable.
/// Returns NULL on success, else the reason.
static inline const char *cpng_replace(const char *from, const char *to, const char *directory) {
    if (rename(from, to) != 0) return cpng_fail_("cannot rename into place: ", strerror(errno));
    int descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (descriptor >= 0) {
        (void)fsync(descriptor);
        close(descriptor);
    }
    return NULL;
}

/// Removes a file (a temporary left behind by a failed write).
static inline void cpng_remove(const char *path) { (void)unlink(path); }

#endif
