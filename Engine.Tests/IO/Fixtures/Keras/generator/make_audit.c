/*
 * Audit fixtures (Engine.Tests/IO/KerasFileAuditTests.cs), written with the HDF5 C library like make_fixtures.c.
 * Model of every file: Sequential([Input((T, 3)), Dense(2)]): kernel (3, 2), bias (2,).
 * Value of element k of weight v (kernel 0, bias 1): ((k * 7 + v * 13 + 0 * 31) % 97 - 48) / 64.0 (L = 0).
 *
 *   dense.sizes48.weights.h5  Keras 3 layout (/vars, /layers/dense/vars/{0,1}); FCPL H5Pset_sizes(4, 8):
 *                             4-byte addresses, 8-byte lengths (a valid HDF5 file; h5dump reads it).
 *   dense.no_weight_names.h5  as dense.chunked_names.h5 unchunked, its Dropout group without a weight_names attribute
 *   cudnn_lstm.h5             tf.keras 2 save_weights of a CuDNNLSTM(2) on 3 features (bias of 16: two biases)
 *   dense.chunked_names.h5    tf.keras 2 save_weights layout, but the root's layer_names split as
 *                             save_attributes_to_hdf5_group does for long lists: layer_names0 = [dense],
 *                             layer_names1 = [dropout] (a weightless layer); no layer_names.
 *   dense.toplevel.h5         tf.keras 2 save_weights layout with top_level_model_weights holding one weight
 *                             ("extra:0", float32 (2,)), which Keras refuses for a Sequential (no top-level weights).
 *
 * Usage: make_audit <output directory>
 */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x) do { if ((x) < 0) { fprintf(stderr, "HDF5 call failed at %s:%d: %s\n", __FILE__, __LINE__, #x); exit(1); } } while (0)

static const char *outdir;
static hid_t lcpl;

static double value(long k, int v) { return (double)((k * 7 + v * 13) % 97 - 48) / 64.0; }

static hid_t open_file(const char *name, hid_t fcpl)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, name);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    CHECK(H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_LATEST));
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
    CHECK(f);
    H5Pclose(fapl);
    return f;
}

static void dataset(hid_t loc, const char *name, int rank, const hsize_t *dims, int v)
{
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    CHECK(H5Pset_obj_track_times(dcpl, 0));
    hid_t ds = H5Dcreate2(loc, name, H5T_IEEE_F32LE, sp, lcpl, dcpl, H5P_DEFAULT);
    CHECK(ds);
    hsize_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    float *buf = malloc(n * sizeof(float));
    for (hsize_t k = 0; k < n; k++) buf[k] = (float)value((long)k, v);
    CHECK(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf));
    free(buf);
    H5Dclose(ds); H5Pclose(dcpl); H5Sclose(sp);
}

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
    char *buf = calloc((size_t)n, len);
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

static void attr_bytes_scalar(hid_t obj, const char *name, const char *s)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    CHECK(H5Tset_size(t, strlen(s)));
    CHECK(H5Tset_strpad(t, H5T_STR_NULLPAD));
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(a);
    CHECK(H5Awrite(a, t, s));
    H5Aclose(a); H5Sclose(sp); H5Tclose(t);
}

static const hsize_t kernel[2] = {3, 2}, bias[1] = {2};

static void keras3_sizes48(void)
{
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    CHECK(H5Pset_sizes(fcpl, 4, 8));
    hid_t f = open_file("dense.sizes48.weights.h5", fcpl);
    H5Pclose(fcpl);
    hid_t g = H5Gcreate2(f, "vars", lcpl, H5P_DEFAULT, H5P_DEFAULT); CHECK(g); H5Gclose(g);
    g = H5Gcreate2(f, "layers/dense/vars", lcpl, H5P_DEFAULT, H5P_DEFAULT); CHECK(g);
    dataset(g, "0", 2, kernel, 0);
    dataset(g, "1", 1, bias, 1);
    H5Gclose(g);
    CHECK(H5Fclose(f));
}

/* tf.keras 2 save_weights_to_hdf5_group for [Dense] (+ optional weightless Dropout), layer_names chunked or not. */
static void legacy(const char *file, int chunked, int toplevel, int dropoutNames)
{
    hid_t f = open_file(file, H5P_DEFAULT);
    const char *dense[] = {"dense"}, *dropout[] = {"dropout"}, *both[] = {"dense", "dropout"};
    if (chunked) { attr_bytes_list(f, "layer_names0", dense, 1); attr_bytes_list(f, "layer_names1", dropout, 1); }
    else attr_bytes_list(f, "layer_names", both, 2);
    attr_bytes_scalar(f, "backend", "tensorflow");
    attr_bytes_scalar(f, "keras_version", "2.13.1");
    hid_t g = H5Gcreate2(f, "dense", lcpl, H5P_DEFAULT, H5P_DEFAULT); CHECK(g);
    const char *names[] = {"dense/kernel:0", "dense/bias:0"};
    attr_bytes_list(g, "weight_names", names, 2);
    dataset(g, names[0], 2, kernel, 0);
    dataset(g, names[1], 1, bias, 1);
    H5Gclose(g);
    g = H5Gcreate2(f, "dropout", lcpl, H5P_DEFAULT, H5P_DEFAULT); CHECK(g);
    if (dropoutNames) attr_bytes_list(g, "weight_names", NULL, 0);
    H5Gclose(g);
    g = H5Gcreate2(f, "top_level_model_weights", lcpl, H5P_DEFAULT, H5P_DEFAULT); CHECK(g);
    if (toplevel) {
        const char *extra[] = {"extra:0"};
        attr_bytes_list(g, "weight_names", extra, 1);
        dataset(g, "extra:0", 1, bias, 1);
    } else attr_bytes_list(g, "weight_names", NULL, 0);
    H5Gclose(g);
    CHECK(H5Fclose(f));
}

/* tf.keras 2 save_weights of [CuDNNLSTM(2)] on 3 features: kernel (3, 8), recurrent (2, 8), bias (16): two biases. */
static void cudnn_lstm(void)
{
    hid_t f = open_file("cudnn_lstm.h5", H5P_DEFAULT);
    const char *layers[] = {"cu_dnnlstm"};
    attr_bytes_list(f, "layer_names", layers, 1);
    attr_bytes_scalar(f, "backend", "tensorflow");
    attr_bytes_scalar(f, "keras_version", "2.3.1");
    hid_t g = H5Gcreate2(f, "cu_dnnlstm", lcpl, H5P_DEFAULT, H5P_DEFAULT); CHECK(g);
    const char *names[] = {"cu_dnnlstm/kernel:0", "cu_dnnlstm/recurrent_kernel:0", "cu_dnnlstm/bias:0"};
    attr_bytes_list(g, "weight_names", names, 3);
    static const hsize_t k[2] = {3, 8}, r[2] = {2, 8}, b[1] = {16};
    dataset(g, names[0], 2, k, 0);
    dataset(g, names[1], 2, r, 1);
    dataset(g, names[2], 1, b, 2);
    H5Gclose(g);
    CHECK(H5Fclose(f));
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: make_audit <output directory>\n"); return 2; }
    outdir = argv[1];
    lcpl = H5Pcreate(H5P_LINK_CREATE);
    CHECK(H5Pset_create_intermediate_group(lcpl, 1));
    keras3_sizes48();
    legacy("dense.chunked_names.h5", 1, 0, 1);
    legacy("dense.toplevel.h5", 0, 1, 1);
    legacy("dense.no_weight_names.h5", 0, 0, 0);
    cudnn_lstm();
    H5Pclose(lcpl);
    return 0;
}
