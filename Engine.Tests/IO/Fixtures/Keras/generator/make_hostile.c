/* Keras-shaped files for the reader's tests beyond what Keras writes today (make.sh builds and runs it after
 * make_fixtures; the output goes next to the other fixtures):
 *   seed_small.tf213.weights.h5: seed_small.weights.h5 with its /layers group copied (H5Ocopy) to
 *   /_layer_checkpoint_dependencies and no /layers: the path shape Keras 3's H5Entry falls back to for files of Keras
 *   2.13 ("Fix for 2.13 compatibility" in saving_lib.py), same values.
 *   links_loop.weights.h5: /layers/dropout/vars (empty, as Keras writes a Dropout), and /layers/extra, whose hard links
 *   "a" and "b" both point back at /layers/extra: a walk that does not remember what it visited takes 2^depth steps.
 *   /layers/extra/c/vars/0 is a float32 (2,) dataset, the only weights in the file. */
#include <hdf5.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: make_hostile OUTDIR\n"); return 2; }
    char path[4096], source[4096];
    snprintf(source, sizeof source, "%s/seed_small.weights.h5", argv[1]);
    snprintf(path, sizeof path, "%s/seed_small.tf213.weights.h5", argv[1]);
    hid_t from = H5Fopen(source, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t to = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (from < 0 || to < 0) { fprintf(stderr, "cannot open %s or create %s\n", source, path); return 1; }
    H5Ocopy(from, "vars", to, "vars", H5P_DEFAULT, H5P_DEFAULT);
    H5Ocopy(from, "layers", to, "_layer_checkpoint_dependencies", H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(to); H5Fclose(from);

    snprintf(path, sizeof path, "%s/links_loop.weights.h5", argv[1]);
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(H5Gcreate2(file, "vars", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    hid_t layers = H5Gcreate2(file, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t dropout = H5Gcreate2(layers, "dropout", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(H5Gcreate2(dropout, "vars", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    hid_t extra = H5Gcreate2(layers, "extra", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Lcreate_hard(file, "/layers/extra", extra, "a", H5P_DEFAULT, H5P_DEFAULT);
    H5Lcreate_hard(file, "/layers/extra", extra, "b", H5P_DEFAULT, H5P_DEFAULT);
    hid_t c = H5Gcreate2(extra, "c", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t vars = H5Gcreate2(c, "vars", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[1] = {2};
    float values[2] = {0.5f, -0.25f};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t data = H5Dcreate2(vars, "0", H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(data, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
    H5Dclose(data); H5Sclose(space); H5Gclose(vars); H5Gclose(c);
    H5Gclose(extra); H5Gclose(dropout); H5Gclose(layers); H5Fclose(file);
    return 0;
}
