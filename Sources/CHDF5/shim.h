#ifndef CHDF5_SHIM_H
#define CHDF5_SHIM_H
// What Swift cannot import from hdf5.h, as static inline functions: the H5T_NATIVE_* / H5P_* constants
// (macros of the form `(H5open(), H5T_NATIVE_FLOAT_g)`), the API-version-mapped H5O calls, and the
// error-stack walk (a C callback). Only CamwatchHDF5 imports this module.
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

// MARK: - Constants

static inline hid_t chdf5_p_default(void) { return H5P_DEFAULT; }
static inline hid_t chdf5_s_all(void) { return H5S_ALL; }
static inline unsigned chdf5_f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned chdf5_f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned chdf5_f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline size_t chdf5_t_variable(void) { return H5T_VARIABLE; }

static inline hid_t chdf5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t chdf5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t chdf5_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t chdf5_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t chdf5_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t chdf5_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t chdf5_std_i32le(void) { return H5T_STD_I32LE; }
static inline hid_t chdf5_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t chdf5_c_s1(void) { return H5T_C_S1; }

// MARK: - Errors

/// Stops libhdf5 printing its error stack to stderr; camwatch reports errors itself.
/// With a thread-safe libhdf5 the setting is per thread, so call it on every entry.
static inline herr_t chdf5_silence_errors(void) { return H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

typedef struct {
    char *buffer;
    size_t capacity;
} chdf5_message_sink;

static inline herr_t chdf5_take_innermost_(unsigned n, const H5E_error2_t *error, void *data) {
    chdf5_message_sink *sink = (chdf5_message_sink *)data;
    if (n == 0 && error != NULL && error->desc != NULL && sink->capacity > 0) {
        strncpy(sink->buffer, error->desc, sink->capacity - 1);
        sink->buffer[sink->capacity - 1] = '\0';
    }
    return 0;
}

/// The innermost message of the calling thread's error stack (where the failure was detected,
/// e.g. "truncated file: eof = 600000, sblock->base_addr = 0, stored_eof = 1051008"), or "".
static inline const char *chdf5_innermost_error(void) {
    static _Thread_local char buffer[512];
    buffer[0] = '\0';
    chdf5_message_sink sink = {buffer, sizeof buffer};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, chdf5_take_innermost_, &sink);
    return buffer;
}

// MARK: - Property lists

/// A file-access property list that never takes a file lock (a trainer may be rewriting the file)
/// and closes every open object with the file.
static inline hid_t chdf5_fapl_unlocked(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    if (H5Pset_file_locking(fapl, 0, 1) < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

/// A file-access property list for a file that lives in memory only (the core driver without a backing
/// store): opening reads an existing file whole, and closing writes nothing. camwatch writes its HDF5 outputs
/// this way and the bytes itself: libhdf5 1.10 cannot recover from a failed write at close (a full disk), it
/// leaves the half-closed file registered, and its exit handler then crashes on it.
static inline hid_t chdf5_fapl_memory(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    if (H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0 || H5Pset_file_locking(fapl, 0, 1) < 0
        || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

/// A link-creation property list that creates missing intermediate groups ("a/b/c").
static inline hid_t chdf5_lcpl_intermediate(void) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl < 0) return -1;
    if (H5Pset_create_intermediate_group(lcpl, 1) < 0) {
        H5Pclose(lcpl);
        return -1;
    }
    return lcpl;
}

// MARK: - Objects and links

/// Object kinds as reported by `chdf5_object_info`.
enum { CHDF5_OBJECT_GROUP = 0, CHDF5_OBJECT_DATASET = 1, CHDF5_OBJECT_DATATYPE = 2, CHDF5_OBJECT_OTHER = 3 };

/// The kind, file address and attribute count of the object `name` relative to `loc`.
static inline herr_t chdf5_object_info(hid_t loc, const char *name, int *kind, uint64_t *address,
                                       uint64_t *attribute_count) {
    H5O_info_t info;
    if (H5Oget_info_by_name2(loc, name, &info, H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS, H5P_DEFAULT) < 0) return -1;
    switch (info.type) {
    case H5O_TYPE_GROUP: *kind = CHDF5_OBJECT_GROUP; break;
    case H5O_TYPE_DATASET: *kind = CHDF5_OBJECT_DATASET; break;
    case H5O_TYPE_NAMED_DATATYPE: *kind = CHDF5_OBJECT_DATATYPE; break;
    default: *kind = CHDF5_OBJECT_OTHER; break;
    }
    *address = (uint64_t)info.addr;
    *attribute_count = (uint64_t)info.num_attrs;
    return 0;
}

/// Link kinds as reported by `chdf5_list_links`.
enum { CHDF5_LINK_HARD = 0, CHDF5_LINK_SOFT = 1, CHDF5_LINK_EXTERNAL = 2, CHDF5_LINK_OTHER = 3 };

/// The links of a group: `count` NUL-terminated names one after another in `names`, their kinds in `kinds`.
typedef struct {
    char *names;
    size_t names_used, names_capacity;
    int *kinds;
    size_t count, kinds_capacity;
    size_t limit;
    int truncated;   // 1 when the group has more than `limit` links (the list then stops at `limit`)
    int failed;      // 1 when memory ran out
} chdf5_link_list;

static inline herr_t chdf5_collect_link_(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    (void)group;
    chdf5_link_list *list = (chdf5_link_list *)data;
    if (list->count >= list->limit) { list->truncated = 1; return 1; }
    size_t length = strlen(name) + 1;
    if (list->names_used + length > list->names_capacity) {
        size_t capacity = (list->names_capacity + length) * 2;
        char *grown = (char *)realloc(list->names, capacity);
        if (grown == NULL) { list->failed = 1; return -1; }
        list->names = grown;
        list->names_capacity = capacity;
    }
    if (list->count == list->kinds_capacity) {
        size_t capacity = list->kinds_capacity * 2 + 16;
        int *grown = (int *)realloc(list->kinds, capacity * sizeof(int));
        if (grown == NULL) { list->failed = 1; return -1; }
        list->kinds = grown;
        list->kinds_capacity = capacity;
    }
    memcpy(list->names + list->names_used, name, length);
    list->names_used += length;
    switch (info->type) {
    case H5L_TYPE_HARD: list->kinds[list->count] = CHDF5_LINK_HARD; break;
    case H5L_TYPE_SOFT: list->kinds[list->count] = CHDF5_LINK_SOFT; break;
    case H5L_TYPE_EXTERNAL: list->kinds[list->count] = CHDF5_LINK_EXTERNAL; break;
    default: list->kinds[list->count] = CHDF5_LINK_OTHER; break;
    }
    list->count += 1;
    return 0;
}

/// Lists up to `limit` links of `group` in increasing name order, in one pass (`H5Literate`): asking for
/// each name by index instead costs libhdf5 a sorted table per name, minutes for tens of thousands of links.
/// Free the list with `chdf5_free_link_list`, also after a failure (negative).
static inline herr_t chdf5_list_links(hid_t group, size_t limit, chdf5_link_list *list) {
    memset(list, 0, sizeof *list);
    list->limit = limit;
    hsize_t index = 0;
    herr_t status = H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &index, chdf5_collect_link_, list);
    return (status < 0 || list->failed) ? -1 : 0;
}

static inline void chdf5_free_link_list(chdf5_link_list *list) {
    free(list->names);
    free(list->kinds);
    memset(list, 0, sizeof *list);
}

/// The number of links in the group `loc`, or negative on failure.
static inline int64_t chdf5_link_count(hid_t loc) {
    H5G_info_t info;
    if (H5Gget_info(loc, &info) < 0) return -1;
    return (int64_t)info.nlinks;
}

/// Dataset storage layouts as reported by `chdf5_dataset_storage`.
enum { CHDF5_LAYOUT_COMPACT = 0, CHDF5_LAYOUT_CONTIGUOUS = 1, CHDF5_LAYOUT_CHUNKED = 2, CHDF5_LAYOUT_OTHER = 3 };

/// The most filters `chdf5_dataset_storage` reports; a longer pipeline is reported by its count alone.
enum { CHDF5_MAX_FILTERS = 16 };

/// What a dataset's creation properties say about where its raw data lives and what reading it costs,
/// read before any raw data is touched.
typedef struct {
    int layout;                        // one of CHDF5_LAYOUT_*
    int external_files;                // H5Pset_external entries: raw data kept in other files
    int filter_count;                  // filters in the pipeline
    int filters[CHDF5_MAX_FILTERS];    // their ids, in pipeline order
    uint64_t chunk_elements;           // elements in one chunk (chunked layout only; saturates at UINT64_MAX)
} chdf5_storage;

/// Fills `out` for `dataset`; negative on failure.
static inline herr_t chdf5_dataset_storage(hid_t dataset, chdf5_storage *out) {
    memset(out, 0, sizeof *out);
    hid_t dcpl = H5Dget_create_plist(dataset);
    if (dcpl < 0) return -1;
    herr_t status = 0;
    switch (H5Pget_layout(dcpl)) {
    case H5D_COMPACT: out->layout = CHDF5_LAYOUT_COMPACT; break;
    case H5D_CONTIGUOUS: out->layout = CHDF5_LAYOUT_CONTIGUOUS; break;
    case H5D_CHUNKED: out->layout = CHDF5_LAYOUT_CHUNKED; break;
    case H5D_LAYOUT_ERROR: status = -1; break;
    default: out->layout = CHDF5_LAYOUT_OTHER; break;
    }
    int externals = H5Pget_external_count(dcpl);
    int filters = H5Pget_nfilters(dcpl);
    if (externals < 0 || filters < 0) status = -1;
    out->external_files = externals;
    out->filter_count = filters;
    for (int i = 0; status >= 0 && i < filters && i < CHDF5_MAX_FILTERS; i++) {
        unsigned flags = 0, config = 0;
        size_t values = 0;
        char name[1];
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &values, NULL, 0, name, &config);
        if (id < 0) status = -1;
        out->filters[i] = (int)id;
    }
    if (status >= 0 && out->layout == CHDF5_LAYOUT_CHUNKED) {
        hsize_t dims[H5S_MAX_RANK];
        int rank = H5Pget_chunk(dcpl, H5S_MAX_RANK, dims);
        if (rank < 0) status = -1;
        uint64_t elements = 1;
        for (int i = 0; i < rank; i++) {
            if (dims[i] != 0 && elements > UINT64_MAX / dims[i]) { elements = UINT64_MAX; break; }
            elements *= dims[i];
        }
        out->chunk_elements = rank < 0 ? 0 : elements;
    }
    H5Pclose(dcpl);
    return status;
}

// MARK: - Library-wide hardening

/// Stops libhdf5 from ever reaching outside the file it reads: no filter plugins are loaded from disk
/// (HDF5_PLUGIN_PATH or the default plugin directory), and external links (to objects in other files)
/// cannot be traversed, because their link class is unregistered. camwatch writes neither.
static inline herr_t chdf5_confine_to_file(void) {
    if (H5PLset_loading_state(0) < 0) return -1;
    if (H5Lis_registered(H5L_TYPE_EXTERNAL) > 0 && H5Lunregister(H5L_TYPE_EXTERNAL) < 0) return -1;
    return 0;
}

#endif
