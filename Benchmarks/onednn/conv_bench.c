/*
 * oneDNN convolution timings for every convolution of torchvision resnet18, mobilenet_v2 and vgg16 at 224x224,
 * to decide whether oneDNN should be camwatch's convolution backend. Not part of camwatch: a stand-alone C program.
 *
 *   Benchmarks/onednn/build.sh                       # cc -O2 ... -ldnnl (Debian libdnnl-dev 2.6.3)
 *   OMP_NUM_THREADS=2 Benchmarks/onednn/conv_bench [--arch resnet18 ...] [--batch 16] [--reps 5]
 *       [--alg direct|winograd|auto ...] [--impl PREFIX] [--fallback] [--plain] [--filter SUBSTRING]
 *
 * Per layer and algorithm: fp32 forward inference, bias always (camwatch folds each batch norm into its
 * convolution's bias) and a ReLU/ReLU6 post-op where camwatch fuses one (layers.h, from gen_layers.py).
 * oneDNN chooses source, weights and destination layouts (format_tag::any). The user tensors are NCHW,
 * weights OIHW/GOIHW; the weights are reordered once before timing (camwatch also transforms its weights at
 * load time). Each repetition times: reorder NCHW -> oneDNN's source layout, the convolution, reorder of the
 * destination back to NCHW, each followed by dnnl_stream_wait.
 *   nchw_ms    = the three together (what camwatch, which keeps NCHW between layers, would pay)
 *   blocked_ms = the convolution alone (a network kept in oneDNN's layout end to end)
 * One untimed warm-up repetition, then the median of --reps. 64 sampled outputs of every layer are checked
 * against a direct double-precision sum (max relative error printed), so a wrong fast path cannot pass.
 *
 * --impl PREFIX takes the first implementation whose name starts with PREFIX (e.g. "ref" for the reference
 * C++ loops, "gemm"); --fallback tries the next implementation when creating a primitive fails (e.g. because
 * JIT code cannot be made executable under MemoryDenyWriteExecute), as an integrator would have to.
 * Output: one tab-separated row per layer and algorithm, then totals per network ("#" lines).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

enum act { ACT_NONE, ACT_RELU, ACT_RELU6 };
struct layer {
    const char *arch, *name;
    int c, h, w, k, kh, kw, stride, pad, groups;
    enum act act;
};
#include "layers.h"

#define NLAYERS ((int)(sizeof LAYERS / sizeof LAYERS[0]))
#define MAXREPS 64

struct options {
    const char *archs[8];
    int narchs;
    dnnl_alg_kind_t algs[4];
    int nalgs;
    int batch, reps, fallback, plain;
    const char *impl, *filter;
};

struct result {
    int ok, pos, exec_failed;
    char status[512];
    char impl[64], src_fmt[32], wei_fmt[32], dst_fmt[32];
    double nchw_ms, blocked_ms, max_rel_err;
};

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* camwatch's layer kind (Bench.swift LayerProfile.report), so totals can be set beside `bench forward --layers`. */
static void camwatch_kind(const struct layer *l, char *buf, size_t size) {
    const char *path = l->groups > 1 && l->groups == l->k ? "depthwise"
        : l->kh == 3 && l->kw == 3 && l->stride == 1 && l->groups == 1 && l->c >= 16 && l->k >= 16 ? "winograd"
        : l->kh == 1 && l->kw == 1 && l->stride == 1 && l->pad == 0 ? "1x1" : "im2col";
    snprintf(buf, size, "conv %dx%d/%d %s", l->kh, l->kw, l->stride, path);
}

/* A short layout name such as "abcd", "acdb" or "aBcd16b" (dims in stride order, blocked dims upper case). */
static void layout_name(const dnnl_memory_desc_t *md, char *buf, size_t size) {
    if (md->format_kind != dnnl_blocked) {
        snprintf(buf, size, "%s", dnnl_fmt_kind2str(md->format_kind));
        return;
    }
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int order[DNNL_MAX_NDIMS], blocked[DNNL_MAX_NDIMS] = {0};
    for (int i = 0; i < md->ndims; i++) order[i] = i;
    for (int i = 0; i < md->ndims; i++)      /* stable sort by descending outer stride */
        for (int j = i + 1; j < md->ndims; j++)
            if (b->strides[order[j]] > b->strides[order[i]]) {
                int t = order[i]; order[i] = order[j]; order[j] = t;
            }
    for (int i = 0; i < b->inner_nblks; i++) blocked[b->inner_idxs[i]] = 1;
    size_t n = 0;
    for (int i = 0; i < md->ndims && n + 1 < size; i++)
        buf[n++] = (char)((blocked[order[i]] ? 'A' : 'a') + order[i]);
    for (int i = 0; i < b->inner_nblks && n + 1 < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%lld%c", (long long)b->inner_blks[i], 'a' + (int)b->inner_idxs[i]);
    buf[n < size ? n : size - 1] = 0;
}

static void fill(dnnl_memory_t m, size_t count, unsigned seed, float scale) {
    float *p;
    dnnl_memory_get_data_handle(m, (void **)&p);
    unsigned s = seed * 2654435761u + 1;
    for (size_t i = 0; i < count; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = scale * ((float)(s >> 8) / 16777216.0f * 2.0f - 1.0f);
    }
}

/* A reorder from `from` to `to` memory descriptors, or NULL when they are equal (nothing to do). */
static dnnl_status_t make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to, dnnl_primitive_t *out) {
    *out = NULL;
    if (dnnl_memory_desc_equal(from, to)) return dnnl_success;
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, NULL);
    if (st != dnnl_success) return st;
    st = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    return st;
}

static dnnl_status_t run_reorder(dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to) {
    if (!r) return dnnl_success;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    dnnl_status_t st = dnnl_primitive_execute(r, stream, 2, args);
    return st != dnnl_success ? st : dnnl_stream_wait(stream);
}

/* Max relative error of 64 sampled NCHW outputs against a double-precision direct sum. */
static double check(const struct layer *l, int n, int oh, int ow, const float *src, const float *wei,
                    const float *bias, const float *dst) {
    int cpg = l->c / l->groups, kpg = l->k / l->groups;
    double worst = 0;
    unsigned s = 12345;
    for (int t = 0; t < 64; t++) {
        s = s * 1664525u + 1013904223u; int b = (int)(s >> 8) % n;
        s = s * 1664525u + 1013904223u; int k = (int)(s >> 8) % l->k;
        s = s * 1664525u + 1013904223u; int y = (int)(s >> 8) % oh;
        s = s * 1664525u + 1013904223u; int x = (int)(s >> 8) % ow;
        int g = k / kpg;
        double sum = bias[k], mag = fabs(bias[k]);
        for (int c = 0; c < cpg; c++)
            for (int i = 0; i < l->kh; i++)
                for (int j = 0; j < l->kw; j++) {
                    int iy = y * l->stride - l->pad + i, ix = x * l->stride - l->pad + j;
                    if (iy < 0 || iy >= l->h || ix < 0 || ix >= l->w) continue;
                    double a = src[(((size_t)b * l->c + g * cpg + c) * l->h + iy) * l->w + ix];
                    double w = wei[(((size_t)k * cpg + c) * l->kh + i) * l->kw + j];
                    sum += a * w;
                    mag += fabs(a * w);
                }
        if (l->act != ACT_NONE && sum < 0) sum = 0;
        if (l->act == ACT_RELU6 && sum > 6) sum = 6;
        double got = dst[(((size_t)b * l->k + k) * oh + y) * ow + x];
        double err = fabs(got - sum) / (mag > 1e-30 ? mag : 1e-30);
        if (err > worst) worst = err;
    }
    return worst;
}

/* Times layer `l` with the implementations oneDNN offers for `alg`, skipping the first `skip` candidates. */
static void run_layer(const struct layer *l, dnnl_alg_kind_t alg, const struct options *o, int skip,
                      struct result *r) {
    memset(r, 0, sizeof *r);
    int n = o->batch, oh = (l->h + 2 * l->pad - l->kh) / l->stride + 1, ow = (l->w + 2 * l->pad - l->kw) / l->stride + 1;
    dnnl_dims_t src_dims = {n, l->c, l->h, l->w}, dst_dims = {n, l->k, oh, ow}, bias_dims = {l->k};
    dnnl_dims_t wei_dims = {l->k, l->c, l->kh, l->kw};
    dnnl_dims_t gwei_dims = {l->groups, l->k / l->groups, l->c / l->groups, l->kh, l->kw};
    dnnl_dims_t strides = {l->stride, l->stride}, pads = {l->pad, l->pad};
    int grouped = l->groups > 1;
    dnnl_memory_desc_t src_user, dst_user, wei_user, bias_md, src_any, dst_any, wei_any;
    dnnl_memory_desc_init_by_tag(&src_user, 4, src_dims, dnnl_f32, dnnl_nchw);
    dnnl_memory_desc_init_by_tag(&dst_user, 4, dst_dims, dnnl_f32, dnnl_nchw);
    dnnl_format_tag_t any = o->plain ? dnnl_nchw : dnnl_format_tag_any;
    dnnl_memory_desc_init_by_tag(&src_any, 4, src_dims, dnnl_f32, any);
    dnnl_memory_desc_init_by_tag(&dst_any, 4, dst_dims, dnnl_f32, any);
    dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_x);
    if (grouped) {
        dnnl_memory_desc_init_by_tag(&wei_user, 5, gwei_dims, dnnl_f32, dnnl_goihw);
        dnnl_memory_desc_init_by_tag(&wei_any, 5, gwei_dims, dnnl_f32, o->plain ? dnnl_goihw : any);
    } else {
        dnnl_memory_desc_init_by_tag(&wei_user, 4, wei_dims, dnnl_f32, dnnl_oihw);
        dnnl_memory_desc_init_by_tag(&wei_any, 4, wei_dims, dnnl_f32, any);
    }
    dnnl_convolution_desc_t cd;
    dnnl_status_t st = dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, alg, &src_any, &wei_any,
                                                          &bias_md, &dst_any, strides, pads, pads);
    if (st != dnnl_success) { snprintf(r->status, sizeof r->status, "desc:%s", dnnl_status2str(st)); return; }

    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    dnnl_primitive_attr_create(&attr);
    dnnl_post_ops_create(&po);
    if (l->act == ACT_RELU) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    if (l->act == ACT_RELU6) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, 0.0f, 6.0f);
    dnnl_primitive_attr_set_post_ops(attr, po);

    /* Walk the implementations oneDNN offers, best first: the first one (or the first matching --impl),
     * and with --fallback the next ones when creating the primitive fails. */
    dnnl_primitive_desc_iterator_t it;
    st = dnnl_primitive_desc_iterator_create(&it, &cd, attr, engine, NULL);
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) { snprintf(r->status, sizeof r->status, "%s", dnnl_status2str(st)); return; }
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t conv = NULL;
    char failed[512] = "";
    int pos = -1;
    do {
        pd = dnnl_primitive_desc_iterator_fetch(it);
        if (++pos < skip) { dnnl_primitive_desc_destroy(pd); pd = NULL; continue; }
        const char *impl = "?";
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
        if (o->impl && strncmp(impl, o->impl, strlen(o->impl)) != 0) {
            dnnl_primitive_desc_destroy(pd); pd = NULL;
            continue;
        }
        snprintf(r->impl, sizeof r->impl, "%s", impl);
        st = dnnl_primitive_create(&conv, pd);
        if (st == dnnl_success) break;
        size_t used = strlen(failed);
        snprintf(failed + used, sizeof failed - used, "%s%s:%s", used ? "," : "", impl, dnnl_status2str(st));
        dnnl_primitive_desc_destroy(pd); pd = NULL; conv = NULL;
        if (!o->fallback) break;
    } while (dnnl_primitive_desc_iterator_next(it) == dnnl_success);
    dnnl_primitive_desc_iterator_destroy(it);
    if (!conv) {
        snprintf(r->status, sizeof r->status, "%s", failed[0] ? failed : "no implementation matches --impl");
        return;
    }
    r->pos = pos;
    if (failed[0]) snprintf(r->status, sizeof r->status, "after %s", failed);

    const dnnl_memory_desc_t *src_md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *wei_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dst_md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    layout_name(src_md, r->src_fmt, sizeof r->src_fmt);
    layout_name(wei_md, r->wei_fmt, sizeof r->wei_fmt);
    layout_name(dst_md, r->dst_fmt, sizeof r->dst_fmt);

    dnnl_memory_t src_u, dst_u, wei_u, bias, src_m, dst_m, wei_m;
    dnnl_memory_create(&src_u, &src_user, engine, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&dst_u, &dst_user, engine, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&wei_u, &wei_user, engine, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&bias, &bias_md, engine, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&src_m, src_md, engine, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&dst_m, dst_md, engine, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&wei_m, wei_md, engine, DNNL_MEMORY_ALLOCATE);
    size_t wcount = (size_t)l->k * (l->c / l->groups) * l->kh * l->kw;
    fill(src_u, (size_t)n * l->c * l->h * l->w, 1, 1.0f);
    fill(wei_u, wcount, 2, 1.0f / sqrtf((float)(wcount / l->k)));
    fill(bias, (size_t)l->k, 3, 0.1f);

    dnnl_primitive_t r_src, r_dst, r_wei;
    dnnl_status_t s1 = make_reorder(&src_user, src_md, &r_src);
    dnnl_status_t s2 = make_reorder(dst_md, &dst_user, &r_dst);
    dnnl_status_t s3 = make_reorder(&wei_user, wei_md, &r_wei);
    if (s1 != dnnl_success || s2 != dnnl_success || s3 != dnnl_success) {
        snprintf(r->status, sizeof r->status, "reorder:%s/%s/%s", dnnl_status2str(s1), dnnl_status2str(s2),
                 dnnl_status2str(s3));
        goto done;
    }
    /* The same buffer when no reorder is needed. */
    dnnl_memory_t src_in = r_src ? src_m : src_u, dst_out = r_dst ? dst_m : dst_u;
    dnnl_status_t sw = run_reorder(r_wei, wei_u, wei_m);
    if (sw != dnnl_success) {
        snprintf(r->status, sizeof r->status, "weights reorder execute:%s", dnnl_status2str(sw));
        goto done;
    }
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, src_in}, {DNNL_ARG_WEIGHTS, r_wei ? wei_m : wei_u},
                               {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst_out}};
    double full[MAXREPS], only[MAXREPS];
    for (int rep = -1; rep < o->reps; rep++) {
        double t0 = now();
        dnnl_status_t e1 = run_reorder(r_src, src_u, src_m);
        double t1 = now();
        dnnl_status_t e2 = dnnl_primitive_execute(conv, stream, 4, args);
        if (e2 == dnnl_success) e2 = dnnl_stream_wait(stream);
        double t2 = now();
        dnnl_status_t e3 = run_reorder(r_dst, dst_m, dst_u);
        double t3 = now();
        if (e1 != dnnl_success || e2 != dnnl_success || e3 != dnnl_success) {
            size_t used = strlen(r->status);
            const char *what = e1 != dnnl_success ? "src reorder" : e2 != dnnl_success ? "execute" : "dst reorder";
            dnnl_status_t e = e1 != dnnl_success ? e1 : e2 != dnnl_success ? e2 : e3;
            snprintf(r->status + used, sizeof r->status - used, "%s%s:%s:%s", used ? "," : "", r->impl, what,
                     dnnl_status2str(e));
            r->exec_failed = 1;
            goto done;
        }
        if (rep >= 0) { full[rep] = (t3 - t0) * 1e3; only[rep] = (t2 - t1) * 1e3; }
    }
    r->nchw_ms = median(full, o->reps);
    r->blocked_ms = median(only, o->reps);
    float *ps, *pw, *pb, *pd_;
    dnnl_memory_get_data_handle(src_u, (void **)&ps);
    dnnl_memory_get_data_handle(wei_u, (void **)&pw);
    dnnl_memory_get_data_handle(bias, (void **)&pb);
    dnnl_memory_get_data_handle(dst_u, (void **)&pd_);
    r->max_rel_err = check(l, n, oh, ow, ps, pw, pb, pd_);
    r->ok = 1;
done:
    if (r_src) dnnl_primitive_destroy(r_src);
    if (r_dst) dnnl_primitive_destroy(r_dst);
    if (r_wei) dnnl_primitive_destroy(r_wei);
    dnnl_memory_destroy(src_u); dnnl_memory_destroy(dst_u); dnnl_memory_destroy(wei_u); dnnl_memory_destroy(bias);
    dnnl_memory_destroy(src_m); dnnl_memory_destroy(dst_m); dnnl_memory_destroy(wei_m);
    dnnl_primitive_destroy(conv);
    dnnl_primitive_desc_destroy(pd);
}

/* Appends to `list` the comma-separated entries of `items` it does not hold yet ("after " prefixes dropped):
 * fallback retries repeat earlier failures, and oneDNN lists several implementations under one name. */
static void append_unique(char *list, size_t size, const char *items) {
    char copy[512], *save = NULL;
    snprintf(copy, sizeof copy, "%s", items);
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strncmp(t, "after ", 6)) t += 6;
        char probe[520], have[520];
        snprintf(probe, sizeof probe, ",%s,", t);
        snprintf(have, sizeof have, ",%s,", list);
        if (strstr(have, probe)) continue;
        size_t used = strlen(list);
        if (used + strlen(t) + 2 < size) snprintf(list + used, size - used, "%s%s", used ? "," : "", t);
    }
}

static const char *alg_name(dnnl_alg_kind_t a) {
    return a == dnnl_convolution_direct ? "direct" : a == dnnl_convolution_winograd ? "winograd" : "auto";
}

static void usage(const char *argv0) {
    fprintf(stderr, "usage: %s [--arch A ...] [--batch 16] [--reps 5] [--alg direct|winograd|auto ...] "
                    "[--impl PREFIX] [--fallback] [--plain] [--filter SUBSTRING]\n", argv0);
    exit(2);
}

int main(int argc, char **argv) {
    struct options o = {.batch = 16, .reps = 5};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--fallback")) { o.fallback = 1; continue; }
        if (!strcmp(a, "--plain")) { o.plain = 1; continue; }
        if (!v) usage(argv[0]);
        i++;
        if (!strcmp(a, "--arch") && o.narchs < 8) o.archs[o.narchs++] = v;
        else if (!strcmp(a, "--batch")) o.batch = atoi(v);
        else if (!strcmp(a, "--reps")) o.reps = atoi(v);
        else if (!strcmp(a, "--impl")) o.impl = v;
        else if (!strcmp(a, "--filter")) o.filter = v;
        else if (!strcmp(a, "--alg") && o.nalgs < 4)
            o.algs[o.nalgs++] = !strcmp(v, "direct") ? dnnl_convolution_direct
                : !strcmp(v, "winograd") ? dnnl_convolution_winograd : dnnl_convolution_auto;
        else usage(argv[0]);
    }
    if (o.batch < 1 || o.reps < 1 || o.reps > MAXREPS) usage(argv[0]);
    if (!o.narchs) { o.archs[0] = "resnet18"; o.archs[1] = "mobilenet_v2"; o.archs[2] = "vgg16"; o.narchs = 3; }
    if (!o.nalgs) { o.algs[0] = dnnl_convolution_direct; o.algs[1] = dnnl_convolution_winograd; o.nalgs = 2; }

    const dnnl_version_t *ver = dnnl_version();
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success || dnnl_stream_create(&stream, engine,
                                                                                      dnnl_stream_default_flags)) {
        fprintf(stderr, "error: cannot create a oneDNN CPU engine\n");
        return 1;
    }
    const char *omp = getenv("OMP_NUM_THREADS");
    printf("# oneDNN %d.%d.%d (%s), effective ISA %s, OMP_NUM_THREADS=%s, batch %d, median of %d after 1 warm-up\n",
           ver->major, ver->minor, ver->patch, ver->hash, dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()),
           omp ? omp : "(unset)", o.batch, o.reps);
    printf("arch\tlayer\tshape\tkind\talg\timpl\tsrc\tweights\tdst\tnchw_ms\tblocked_ms\tmax_rel_err\tstatus\n");
    fflush(stdout);

    for (int a = 0; a < o.narchs; a++) {
        double nchw[4] = {0}, blocked[4] = {0}, best_nchw = 0, best_blocked = 0;
        int missing[4] = {0}, count = 0;
        char kinds[16][32];
        double kind_nchw[16][4] = {{0}}, kind_blocked[16][4] = {{0}};
        int kind_count[16][4] = {{0}};
        int nkinds = 0;
        for (int i = 0; i < NLAYERS; i++) {
            const struct layer *l = &LAYERS[i];
            if (strcmp(l->arch, o.archs[a]) || (o.filter && !strstr(l->name, o.filter))) continue;
            count++;
            char kind[32], shape[64];
            camwatch_kind(l, kind, sizeof kind);
            int ki = 0;
            while (ki < nkinds && strcmp(kinds[ki], kind)) ki++;
            if (ki == nkinds && nkinds < 16) snprintf(kinds[nkinds++], sizeof kinds[0], "%s", kind);
            snprintf(shape, sizeof shape, "%dx%dx%d>%d %dx%d/%d g%d%s", l->c, l->h, l->w, l->k, l->kh, l->kw,
                     l->stride, l->groups, l->act == ACT_RELU ? " relu" : l->act == ACT_RELU6 ? " relu6" : "");
            double layer_best_nchw = INFINITY, layer_best_blocked = INFINITY;
            for (int g = 0; g < o.nalgs; g++) {
                struct result r;
                char history[512] = "";
                /* With --fallback, an implementation that is created but fails to execute (e.g. a JIT
                 * kernel generated on first use) also passes the turn to the next one. */
                for (int skip = 0;; ) {
                    run_layer(l, o.algs[g], &o, skip, &r);
                    if (r.ok || !r.exec_failed || !o.fallback) break;
                    append_unique(history, sizeof history, r.status);
                    skip = r.pos + 1;
                }
                if (history[0]) {
                    append_unique(history, sizeof history, r.status);
                    snprintf(r.status, sizeof r.status, "%s%.500s", r.ok ? "after " : "", history);
                }
                printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t", l->arch, l->name, shape, kind, alg_name(o.algs[g]),
                       r.impl[0] ? r.impl : "-", r.src_fmt[0] ? r.src_fmt : "-", r.wei_fmt[0] ? r.wei_fmt : "-",
                       r.dst_fmt[0] ? r.dst_fmt : "-");
                if (r.ok) {
                    printf("%.3f\t%.3f\t%.1e\t%s\n", r.nchw_ms, r.blocked_ms, r.max_rel_err, r.status[0] ? r.status : "ok");
                    nchw[g] += r.nchw_ms; blocked[g] += r.blocked_ms;
                    if (ki < 16) { kind_nchw[ki][g] += r.nchw_ms; kind_blocked[ki][g] += r.blocked_ms; kind_count[ki][g]++; }
                    if (r.nchw_ms < layer_best_nchw) layer_best_nchw = r.nchw_ms;
                    if (r.blocked_ms < layer_best_blocked) layer_best_blocked = r.blocked_ms;
                } else {
                    printf("-\t-\t-\t%s\n", r.status);
                    missing[g]++;
                }
                fflush(stdout);
            }
            if (isfinite(layer_best_nchw)) { best_nchw += layer_best_nchw; best_blocked += layer_best_blocked; }
        }
        for (int g = 0; g < o.nalgs; g++)
            printf("# %s total %s: nchw %.1f ms, blocked %.1f ms over %d of %d convolutions\n", o.archs[a],
                   alg_name(o.algs[g]), nchw[g], blocked[g], count - missing[g], count);
        if (o.nalgs > 1)
            printf("# %s total best per layer: nchw %.1f ms, blocked %.1f ms\n", o.archs[a], best_nchw, best_blocked);
        for (int k = 0; k < nkinds; k++)
            for (int g = 0; g < o.nalgs; g++)
                if (kind_count[k][g]) printf("# %s kind %-20s %-8s %2d layers: nchw %8.2f ms, blocked %8.2f ms\n", o.archs[a], kinds[k],
                       alg_name(o.algs[g]), kind_count[k][g], kind_nchw[k][g], kind_blocked[k][g]);
        fflush(stdout);
    }
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(engine);
    return 0;
}
