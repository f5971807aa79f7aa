/*
 * Writes the Keras weight-file fixtures of Engine.Tests/IO/Fixtures/Keras with the HDF5 C library, calling it the way
 * h5py 3.x does when Keras writes the file (see ../README.md for the Keras and h5py source this follows):
 *   file:      H5Fcreate with a FAPL whose libver bounds are (EARLIEST, LATEST) (h5py make_fapl's default), default FCPL;
 *   groups:    H5Gcreate2 with an LCPL that creates intermediate groups (h5py Group.create_group), default GCPL
 *              (h5py track_order is off by default);
 *   Keras 3 variables (H5Entry.__setitem__ -> Group.__setitem__): an anonymous contiguous dataset (H5Dcreate_anon, DCPL
 *              with obj_track_times off: h5py make_new_dset track_times=False) written whole, then H5Olink'd as "0", "1", ...;
 *   legacy tf.keras 2 weights (save_subset_weights_to_hdf5_group: f.create_dataset(name, shape, dtype) then dset[:] = v):
 *              intermediate groups, H5Dcreate2 named dataset (same DCPL), H5Dwrite;
 *   attributes: H5Acreate2 + H5Awrite; numpy bytes arrays ('S<n>') as fixed-length NULLPAD ASCII strings, Python str as
 *              variable-length UTF-8 strings, an empty Python list as a float64 array of shape (0,).
 *
 * Value of element k (C-order flat index) of the variable stored as dataset "v" (or the v-th weight) of the saveable
 * numbered L:  ((k * 7 + v * 13 + L * 31) % 97 - 48) / 64.0   (exact in float32 and float64).
 *
 * Usage: make_fixtures <output directory> <legacy model_config json file>
 */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x) do { if ((x) < 0) { fprintf(stderr, "HDF5 call failed at %s:%d: %s\n", __FILE__, __LINE__, #x); exit(1); } } while (0)

static const char *outdir;
static hid_t file_id = -1;
static hid_t ftype_float;   /* H5T_IEEE_F32LE or H5T_IEEE_F64LE */
static hid_t lcpl;          /* create intermediate groups, like h5py's default LCPL */

static double value(long k, int v, int L) { return (double)((k * 7 + v * 13 + L * 31) % 97 - 48) / 64.0; }

static void open_file(const char *name, int latest)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, name);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (latest) CHECK(H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST));
    else CHECK(H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_LATEST));
    file_id = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    CHECK(file_id);
    H5Pclose(fapl);
}

static void close_file(void) { CHECK(H5Fclose(file_id)); file_id = -1; }

static hid_t create_group(hid_t loc, const char *path)
{
    hid_t g = H5Gcreate2(loc, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(g);
    return g;
}

/* The float data of one variable, from the formula. */
static void *make_data(hid_t ftype, int rank, const hsize_t *dims, int v, int L, hsize_t *count)
{
    hsize_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    *count = n;
    size_t sz = H5Tget_size(ftype);
    void *buf = malloc(n * sz + 1);
    for (hsize_t k = 0; k < n; k++) {
        double x = value((long)k, v, L);
        if (sz == 4) ((float *)buf)[k] = (float)x; else ((double *)buf)[k] = x;
    }
    return buf;
}

static hid_t dcpl_h5py(void)
{
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    CHECK(H5Pset_obj_track_times(dcpl, 0));
    return dcpl;
}

/* Group.__setitem__(name, ndarray): anonymous dataset, written, then linked. */
static void keras3_dataset(hid_t group, const char *name, hid_t ftype, int rank, const hsize_t *dims, const void *buf)
{
    hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = dcpl_h5py();
    hid_t ds = H5Dcreate_anon(group, ftype, space, dcpl, H5P_DEFAULT);
    CHECK(ds);
    CHECK(H5Dwrite(ds, ftype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf));
    CHECK(H5Olink(ds, group, name, lcpl, H5P_DEFAULT));
    H5Dclose(ds); H5Pclose(dcpl); H5Sclose(space);
}

typedef struct { int rank; hsize_t dims[2]; } Shape;

/* H5Entry(path, mode="w") + save_own_variables: group <path> (or none for the root), then <path>/vars, then "0".."n-1". */
static void keras3_saveable(const char *path, int L, int n, const Shape *shapes)
{
    hid_t g = -1, vars;
    if (path[0] == 0) vars = create_group(file_id, "vars");
    else { g = create_group(file_id, path); vars = create_group(g, "vars"); }
    for (int v = 0; v < n; v++) {
        hsize_t cnt;
        void *buf = make_data(ftype_float, shapes[v].rank, shapes[v].dims, v, L, &cnt);
        char name[16];
        snprintf(name, sizeof name, "%d", v);
        keras3_dataset(vars, name, ftype_float, shapes[v].rank, shapes[v].dims, buf);
        free(buf);
    }
    H5Gclose(vars);
    if (g >= 0) H5Gclose(g);
}

static void lstm_shapes(Shape *s, int in, int units, int use_bias)
{
    s[0].rank = 2; s[0].dims[0] = in; s[0].dims[1] = 4 * units;       /* kernel */
    s[1].rank = 2; s[1].dims[0] = units; s[1].dims[1] = 4 * units;    /* recurrent_kernel */
    s[2].rank = 1; s[2].dims[0] = 4 * units;                          /* bias */
    (void)use_bias;
}

/* Keras 3 walk of a Bidirectional(LSTM) at <path>: the wrapper's own (empty) vars, then its attributes in sorted name
 * order: backward_layer (LSTM: empty vars, then cell) before forward_layer. */
static int keras3_bidirectional_lstm(const char *path, int L, int in, int units)
{
    char p[512];
    Shape s[3];
    lstm_shapes(s, in, units, 1);
    keras3_saveable(path, -1, 0, NULL);
    snprintf(p, sizeof p, "%s/backward_layer", path); keras3_saveable(p, -1, 0, NULL);
    snprintf(p, sizeof p, "%s/backward_layer/cell", path); keras3_saveable(p, L++, 3, s);
    snprintf(p, sizeof p, "%s/forward_layer", path); keras3_saveable(p, -1, 0, NULL);
    snprintf(p, sizeof p, "%s/forward_layer/cell", path); keras3_saveable(p, L++, 3, s);
    return L;
}

/* Sequential([Input((5, 3)), Bidirectional(LSTM(4, return_sequences=True)), LayerNormalization(),
 *             Bidirectional(LSTM(3)), LayerNormalization(), Dense(2)]) as Keras 3 save_weights walks it.
 * ln2_gamma: length of layer_normalization_1's gamma (6; 5 for the mismatch fixture). */
static void seed_small_keras3(int ln2_gamma)
{
    int L = 0;
    keras3_saveable("", -1, 0, NULL);                          /* root model: vars (empty) */
    L = keras3_bidirectional_lstm("layers/bidirectional", L, 3, 4);   /* L0 backward cell, L1 forward cell */
    Shape ln1[2] = {{1, {8, 0}}, {1, {8, 0}}};
    keras3_saveable("layers/layer_normalization", L++, 2, ln1); /* L2 gamma, beta */
    L = keras3_bidirectional_lstm("layers/bidirectional_1", L, 8, 3); /* L3 backward cell, L4 forward cell */
    Shape ln2[2] = {{1, {(hsize_t)ln2_gamma, 0}}, {1, {6, 0}}};
    keras3_saveable("layers/layer_normalization_1", L++, 2, ln2); /* L5 */
    Shape dense[2] = {{2, {6, 2}}, {1, {2, 0}}};
    keras3_saveable("layers/dense", L++, 2, dense);            /* L6 */
}

/* The Adam state after one fit step, as BaseOptimizer.save_own_variables writes it under "optimizer/vars":
 * 0 iteration (int64 scalar, 1), 1 learning_rate (float32 scalar, 0.001f), then momentum and velocity of each trainable
 * variable in model.trainable_variables order (forward before backward inside a Bidirectional), interleaved. */
static void seed_small_optimizer(int L)
{
    /* trainable variables in model order: bidirectional forward (kernel, recurrent_kernel, bias), backward (same),
     * layer_normalization gamma, beta, bidirectional_1 forward, backward, layer_normalization_1 gamma, beta, dense kernel, bias */
    Shape tv[20];
    int n = 0;
    lstm_shapes(&tv[n], 3, 4, 1); n += 3;
    lstm_shapes(&tv[n], 3, 4, 1); n += 3;
    tv[n].rank = 1; tv[n].dims[0] = 8; n++;
    tv[n].rank = 1; tv[n].dims[0] = 8; n++;
    lstm_shapes(&tv[n], 8, 3, 1); n += 3;
    lstm_shapes(&tv[n], 8, 3, 1); n += 3;
    tv[n].rank = 1; tv[n].dims[0] = 6; n++;
    tv[n].rank = 1; tv[n].dims[0] = 6; n++;
    tv[n].rank = 2; tv[n].dims[0] = 6; tv[n].dims[1] = 2; n++;
    tv[n].rank = 1; tv[n].dims[0] = 2; n++;

    hid_t g = create_group(file_id, "optimizer");
    hid_t vars = create_group(g, "vars");
    long long it = 1;
    keras3_dataset(vars, "0", H5T_STD_I64LE, 0, NULL, &it);
    float lr = 0.001f;
    keras3_dataset(vars, "1", H5T_IEEE_F32LE, 0, NULL, &lr);
    int v = 2;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < 2; j++, v++) {           /* momentum, velocity */
            hsize_t cnt;
            void *buf = make_data(ftype_float, tv[i].rank, tv[i].dims, v, L, &cnt);
            char name[16];
            snprintf(name, sizeof name, "%d", v);
            keras3_dataset(vars, name, ftype_float, tv[i].rank, tv[i].dims, buf);
            free(buf);
        }
    }
    H5Gclose(vars); H5Gclose(g);
}

/* Sequential([Input((6, 3)), Masking(), LSTM(3, return_sequences=True), Dropout(0.2), LSTM(2, return_sequences=True),
 *             LayerNormalization(center=False), LSTM(2), Dense(1, use_bias=False)]) */
static void mixed_keras3(void)
{
    Shape s[3];
    keras3_saveable("", -1, 0, NULL);
    keras3_saveable("layers/masking", -1, 0, NULL);
    keras3_saveable("layers/lstm", -1, 0, NULL);
    lstm_shapes(s, 3, 3, 1); keras3_saveable("layers/lstm/cell", 0, 3, s);          /* L0 */
    keras3_saveable("layers/dropout", -1, 0, NULL);
    keras3_saveable("layers/lstm_1", -1, 0, NULL);
    lstm_shapes(s, 3, 2, 1); keras3_saveable("layers/lstm_1/cell", 1, 3, s);        /* L1 */
    Shape ln[1] = {{1, {2, 0}}};
    keras3_saveable("layers/layer_normalization", 2, 1, ln);                          /* L2 gamma only */
    keras3_saveable("layers/lstm_2", -1, 0, NULL);
    lstm_shapes(s, 2, 2, 1); keras3_saveable("layers/lstm_2/cell", 3, 3, s);        /* L3 */
    Shape dense[1] = {{2, {2, 1}}};
    keras3_saveable("layers/dense", 4, 1, dense);                                     /* L4 kernel only */
}

/* ---- legacy tf.keras 2 (h5py attributes) ---- */

/* attrs[name] = list of bytes -> numpy 'S<maxlen>' 1-D array -> fixed-length NULLPAD string array; empty list -> float64 (0,) */
static void attr_bytes_list(hid_t obj, const char *name, const char **items, int n)
{
    if (n <= 0) {
        hsize_t d = 0;
        hid_t sp = H5Screate_simple(1, &d, NULL);
        hid_t a = H5Acreate2(obj, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        CHECK(a);
        H5Aclose(a); H5Sclose(sp);
        return;
    }
    size_t len = 1;
    for (int i = 0; i < n; i++) if (strlen(items[i]) > len) len = strlen(items[i]);
    char *buf = calloc((size_t)(unsigned)n, len);
    for (int i = 0; i < n; i++) memcpy(buf + (size_t)i * len, items[i], strlen(items[i]));
    hid_t t = H5Tcopy(H5T_C_S1);
    CHECK(H5Tset_size(t, len));
    CHECK(H5Tset_strpad(t, H5T_STR_NULLPAD));
    hsize_t d = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a);
    CHECK(H5Awrite(a, t, buf));
    H5Aclose(a); H5Sclose(sp); H5Tclose(t); free(buf);
}

/* attrs[name] = b"..." -> numpy bytes_ scalar 'S<len>' -> fixed-length NULLPAD string, scalar dataspace */
static void attr_bytes_scalar(hid_t obj, const char *name, const char *s)
{
    size_t len = strlen(s) ? strlen(s) : 1;
    hid_t t = H5Tcopy(H5T_C_S1);
    CHECK(H5Tset_size(t, len));
    CHECK(H5Tset_strpad(t, H5T_STR_NULLPAD));
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a);
    CHECK(H5Awrite(a, t, s));
    H5Aclose(a); H5Sclose(sp); H5Tclose(t);
}

/* attrs[name] = "..." (Python str) -> variable-length UTF-8 string, scalar dataspace */
static void attr_str_scalar(hid_t obj, const char *name, const char *s)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    CHECK(H5Tset_size(t, H5T_VARIABLE));
    CHECK(H5Tset_cset(t, H5T_CSET_UTF8));
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a);
    CHECK(H5Awrite(a, t, &s));
    H5Aclose(a); H5Sclose(sp); H5Tclose(t);
}

/* "name in group" for a relative path, component by component (H5Lexists needs every intermediate link to exist). */
static int path_exists(hid_t group, const char *path)
{
    char buf[512];
    size_t n = strlen(path);
    for (size_t i = 0; i <= n; i++) {
        if (path[i] == '/' || path[i] == 0) {
            memcpy(buf, path, i); buf[i] = 0;
            if (H5Lexists(group, buf, H5P_DEFAULT) <= 0) return 0;
        }
    }
    return 1;
}

/* f.create_dataset(name, shape, dtype) (intermediate groups via require_group) then dset[:] = value */
static void legacy_dataset(hid_t group, const char *name, int rank, const hsize_t *dims, int v, int L)
{
    char parent[512];
    const char *slash = strrchr(name, '/');
    hid_t loc = group, pg = -1;
    if (slash) {
        size_t n = (size_t)(slash - name);
        memcpy(parent, name, n); parent[n] = 0;
        if (!path_exists(group, parent)) pg = create_group(group, parent);
        else pg = H5Gopen2(group, parent, H5P_DEFAULT);
        loc = pg;
        name = slash + 1;
    }
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = dcpl_h5py();
    hid_t ds = H5Dcreate2(loc, name, ftype_float, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    CHECK(ds);
    hsize_t cnt;
    void *buf = make_data(ftype_float, rank, dims, v, L, &cnt);
    CHECK(H5Dwrite(ds, ftype_float, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf));
    free(buf);
    H5Dclose(ds); H5Pclose(dcpl); H5Sclose(sp);
    if (pg >= 0) H5Gclose(pg);
}

typedef struct { const char *name; Shape shape; int L; int v; } LegacyWeight;

static void legacy_layer(hid_t f, const char *layer, const LegacyWeight *w, int n)
{
    hid_t g = create_group(f, layer);
    const char *names[8];
    for (int i = 0; i < n; i++) names[i] = w[i].name;
    attr_bytes_list(g, "weight_names", names, n);
    for (int i = 0; i < n; i++) legacy_dataset(g, w[i].name, w[i].shape.rank, w[i].shape.dims, w[i].v, w[i].L);
    H5Gclose(g);
}

static void bidi_weights(LegacyWeight *w, const char *layer, const char *lstm, int in, int units, int L, char store[6][128])
{
    static const char *kinds[3] = {"kernel:0", "recurrent_kernel:0", "bias:0"};
    Shape s[3];
    lstm_shapes(s, in, units, 1);
    for (int d = 0; d < 2; d++)
        for (int i = 0; i < 3; i++) {
            int j = d * 3 + i;
            snprintf(store[j], 128, "%s/%s_%s/lstm_cell/%s", layer, d == 0 ? "forward" : "backward", lstm, kinds[i]);
            w[j].name = store[j]; w[j].shape = s[i]; w[j].L = L + d; w[j].v = i;
        }
}

/* hdf5_format.save_weights_to_hdf5_group(f, model) of tf.keras 2.13 for the seed_small model. */
static void seed_small_legacy_weights(hid_t f)
{
    const char *layer_names[5] = {"bidirectional", "layer_normalization", "bidirectional_1", "layer_normalization_1", "dense"};
    attr_bytes_list(f, "layer_names", layer_names, 5);
    attr_bytes_scalar(f, "backend", "tensorflow");
    attr_bytes_scalar(f, "keras_version", "2.13.1");
    char s1[6][128], s2[6][128];
    LegacyWeight b1[6], b2[6];
    bidi_weights(b1, "bidirectional", "lstm", 3, 4, 0, s1);     /* L0 forward, L1 backward */
    bidi_weights(b2, "bidirectional_1", "lstm_1", 8, 3, 3, s2); /* L3 forward, L4 backward */
    LegacyWeight ln1[2] = {{"layer_normalization/gamma:0", {1, {8, 0}}, 2, 0}, {"layer_normalization/beta:0", {1, {8, 0}}, 2, 1}};
    LegacyWeight ln2[2] = {{"layer_normalization_1/gamma:0", {1, {6, 0}}, 5, 0}, {"layer_normalization_1/beta:0", {1, {6, 0}}, 5, 1}};
    LegacyWeight dense[2] = {{"dense/kernel:0", {2, {6, 2}}, 6, 0}, {"dense/bias:0", {1, {2, 0}}, 6, 1}};
    /* groups in sorted layer-name order */
    legacy_layer(f, "bidirectional", b1, 6);
    legacy_layer(f, "bidirectional_1", b2, 6);
    legacy_layer(f, "dense", dense, 2);
    legacy_layer(f, "layer_normalization", ln1, 2);
    legacy_layer(f, "layer_normalization_1", ln2, 2);
    legacy_layer(f, "top_level_model_weights", NULL, 0);
}

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) { perror(path); exit(1); }
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (fread(s, 1, (size_t)n, fp) != (size_t)n) { perror(path); exit(1); }
    s[n] = 0;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
    fclose(fp);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 3) { fprintf(stderr, "usage: %s <outdir> <legacy model_config.json>\n", argv[0]); return 2; }
    outdir = argv[1];
    lcpl = H5Pcreate(H5P_LINK_CREATE);
    CHECK(H5Pset_create_intermediate_group(lcpl, 1));

    ftype_float = H5T_IEEE_F32LE;
    open_file("seed_small.weights.h5", 0); seed_small_keras3(6); close_file();
    open_file("seed_small.latest.weights.h5", 1); seed_small_keras3(6); close_file();
    open_file("seed_small.mismatch.weights.h5", 0); seed_small_keras3(5); close_file();
    open_file("seed_small.keras.model.weights.h5", 0); seed_small_keras3(6); seed_small_optimizer(7); close_file();
    open_file("mixed.weights.h5", 0); mixed_keras3(); close_file();

    open_file("seed_small.legacy.h5", 0); seed_small_legacy_weights(file_id); close_file();

    /* model.save("x.h5") of the uncompiled model: root attrs from saving_utils.model_metadata (keras_version and backend
     * as Python str, model_config as json bytes), then model_weights. */
    char *config = read_text(argv[2]);
    open_file("seed_small.legacy_model.h5", 0);
    attr_str_scalar(file_id, "keras_version", "2.13.1");
    attr_str_scalar(file_id, "backend", "tensorflow");
    attr_bytes_scalar(file_id, "model_config", config);
    hid_t mw = create_group(file_id, "model_weights");
    seed_small_legacy_weights(mw);
    H5Gclose(mw);
    close_file();
    free(config);

    ftype_float = H5T_IEEE_F64LE;
    open_file("seed_small.f64.weights.h5", 0); seed_small_keras3(6); close_file();

    H5Pclose(lcpl);
    return 0;
}
