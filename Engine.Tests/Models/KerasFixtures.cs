namespace NumLstm.Tests.Models;

/// <summary>
/// Keras model configs as <c>model.to_json()</c> writes them, for <see cref="KerasConfigTests"/>.
/// </summary>
internal static class KerasFixtures
{
    /// <summary>
    /// The project's model, <c>Sequential([Input((50, 32)), Bidirectional(LSTM(100, dropout=.4, recurrent_dropout=.4,
    /// return_sequences=True)), LayerNormalization(), Bidirectional(LSTM(200, dropout=.4, recurrent_dropout=.4)),
    /// LayerNormalization(), Dense(2)])</c>, in Keras 3 (3.4 and later: dtypes as DTypePolicy objects). Written field by
    /// field from keras-team/keras keras/src: Sequential.get_config (layers, build_input_shape), serialization_lib
    /// (module / class_name / config / registered_name / build_config), InputLayer.get_config (batch_shape, dtype,
    /// sparse, ragged, name, optional), RNN.get_config + LSTM.get_config, Bidirectional.get_config (forward_layer as
    /// "layer" named forward_*, the generated backward_layer with go_backwards true, zero_output_for_mask forced to
    /// return_sequences on both), LayerNormalization.get_config (axis [-1] once built) and Dense.get_config. Initializer
    /// names as a real Keras 3 to_json writes them (Orthogonal as "OrthogonalInitializer": danielhyuncoder/PolitiSenseAPI
    /// main.py, in <see cref="PolitiSenseKeras3"/>).
    /// </summary>
    public const string MissionKeras3 = """
    {"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "trainable": true,
     "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
     "layers": [
      {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 50, 32], "dtype": "float32", "sparse": false, "ragged": false, "name": "input_layer", "optional": false}, "registered_name": null},
      {"module": "keras.layers", "class_name": "Bidirectional", "config": {"name": "bidirectional", "trainable": true,
        "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
        "merge_mode": "concat",
        "layer": {"module": "keras.layers", "class_name": "LSTM", "config": {"name": "forward_lstm", "trainable": true,
          "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
          "return_sequences": true, "return_state": false, "go_backwards": false, "stateful": false, "unroll": false, "zero_output_for_mask": true,
          "units": 100, "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": true,
          "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null},
          "recurrent_initializer": {"module": "keras.initializers", "class_name": "OrthogonalInitializer", "config": {"gain": 1.0, "seed": null}, "registered_name": null},
          "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null},
          "unit_forget_bias": true, "kernel_regularizer": null, "recurrent_regularizer": null, "bias_regularizer": null, "activity_regularizer": null,
          "kernel_constraint": null, "recurrent_constraint": null, "bias_constraint": null, "dropout": 0.4, "recurrent_dropout": 0.4, "seed": null},
          "registered_name": null, "build_config": {"input_shape": [null, 50, 32]}},
        "backward_layer": {"module": "keras.layers", "class_name": "LSTM", "config": {"name": "backward_lstm", "trainable": true,
          "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
          "return_sequences": true, "return_state": false, "go_backwards": true, "stateful": false, "unroll": false, "zero_output_for_mask": true,
          "units": 100, "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": true,
          "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null},
          "recurrent_initializer": {"module": "keras.initializers", "class_name": "OrthogonalInitializer", "config": {"gain": 1.0, "seed": null}, "registered_name": null},
          "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null},
          "unit_forget_bias": true, "kernel_regularizer": null, "recurrent_regularizer": null, "bias_regularizer": null, "activity_regularizer": null,
          "kernel_constraint": null, "recurrent_constraint": null, "bias_constraint": null, "dropout": 0.4, "recurrent_dropout": 0.4, "seed": null},
          "registered_name": null, "build_config": {"input_shape": [null, 50, 32]}}},
       "registered_name": null, "build_config": {"input_shape": [null, 50, 32]}},
      {"module": "keras.layers", "class_name": "LayerNormalization", "config": {"name": "layer_normalization", "trainable": true,
        "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
        "axis": [-1], "epsilon": 0.001, "center": true, "scale": true, "rms_scaling": false,
        "beta_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null},
        "gamma_initializer": {"module": "keras.initializers", "class_name": "Ones", "config": {}, "registered_name": null},
        "beta_regularizer": null, "gamma_regularizer": null, "beta_constraint": null, "gamma_constraint": null},
       "registered_name": null, "build_config": {"input_shape": [null, 50, 200]}},
      {"module": "keras.layers", "class_name": "Bidirectional", "config": {"name": "bidirectional_1", "trainable": true,
        "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
        "merge_mode": "concat",
        "layer": {"module": "keras.layers", "class_name": "LSTM", "config": {"name": "forward_lstm_1", "trainable": true,
          "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
          "return_sequences": false, "return_state": false, "go_backwards": false, "stateful": false, "unroll": false, "zero_output_for_mask": false,
          "units": 200, "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": true,
          "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null},
          "recurrent_initializer": {"module": "keras.initializers", "class_name": "OrthogonalInitializer", "config": {"gain": 1.0, "seed": null}, "registered_name": null},
          "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null},
          "unit_forget_bias": true, "kernel_regularizer": null, "recurrent_regularizer": null, "bias_regularizer": null, "activity_regularizer": null,
          "kernel_constraint": null, "recurrent_constraint": null, "bias_constraint": null, "dropout": 0.4, "recurrent_dropout": 0.4, "seed": null},
          "registered_name": null, "build_config": {"input_shape": [null, 50, 200]}},
        "backward_layer": {"module": "keras.layers", "class_name": "LSTM", "config": {"name": "backward_lstm_1", "trainable": true,
          "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
          "return_sequences": false, "return_state": false, "go_backwards": true, "stateful": false, "unroll": false, "zero_output_for_mask": false,
          "units": 200, "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": true,
          "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null},
          "recurrent_initializer": {"module": "keras.initializers", "class_name": "OrthogonalInitializer", "config": {"gain": 1.0, "seed": null}, "registered_name": null},
          "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null},
          "unit_forget_bias": true, "kernel_regularizer": null, "recurrent_regularizer": null, "bias_regularizer": null, "activity_regularizer": null,
          "kernel_constraint": null, "recurrent_constraint": null, "bias_constraint": null, "dropout": 0.4, "recurrent_dropout": 0.4, "seed": null},
          "registered_name": null, "build_config": {"input_shape": [null, 50, 200]}}},
       "registered_name": null, "build_config": {"input_shape": [null, 50, 200]}},
      {"module": "keras.layers", "class_name": "LayerNormalization", "config": {"name": "layer_normalization_1", "trainable": true,
        "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
        "axis": [-1], "epsilon": 0.001, "center": true, "scale": true, "rms_scaling": false,
        "beta_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null},
        "gamma_initializer": {"module": "keras.initializers", "class_name": "Ones", "config": {}, "registered_name": null},
        "beta_regularizer": null, "gamma_regularizer": null, "beta_constraint": null, "gamma_constraint": null},
       "registered_name": null, "build_config": {"input_shape": [null, 400]}},
      {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "trainable": true,
        "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
        "units": 2, "activation": "linear", "use_bias": true,
        "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null},
        "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null},
        "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null},
       "registered_name": null, "build_config": {"input_shape": [null, 400]}}],
     "build_input_shape": [null, 50, 32]},
     "registered_name": null, "build_config": {"input_shape": [null, 50, 32]},
     "compile_config": {"optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {"name": "adam", "learning_rate": 0.0010000000474974513}, "registered_name": null},
      "loss": "mse", "loss_weights": null, "metrics": null, "weighted_metrics": null, "run_eagerly": false, "steps_per_execution": 1, "jit_compile": false}}
    """;

    /// <summary>
    /// The same model in tf.keras 2 (2.x, up to 2.15): {class_name, config} objects, "batch_input_shape" on the
    /// InputLayer, dtypes as strings, no backward_layer (tf.keras 2 writes one only when the user gave it), the wrapped
    /// layer under its own name, "implementation": 1 (LSTMCell switches to it with recurrent dropout) and "time_major",
    /// LayerNormalization's axis made positive when built ([2] on a sequence, [1] on a vector). Written from
    /// keras-team/keras (2.x) keras/layers/rnn/lstm.py, base_rnn.py, bidirectional.py (Wrapper.get_config),
    /// layers/normalization/layer_normalization.py and engine/base_layer.py, in the layout of real tf.keras 2.4 outputs
    /// (a "Bidirectional" / "LSTM" / "Dense" config of that version is quoted in <see cref="Keras2Bidirectional"/>).
    /// </summary>
    public const string MissionKeras2 = """
    {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
      {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 50, 32], "dtype": "float32", "sparse": false, "ragged": false, "name": "input_1"}},
      {"class_name": "Bidirectional", "config": {"name": "bidirectional", "trainable": true, "dtype": "float32",
        "layer": {"class_name": "LSTM", "config": {"name": "lstm", "trainable": true, "dtype": "float32",
          "return_sequences": true, "return_state": false, "go_backwards": false, "stateful": false, "unroll": false, "time_major": false,
          "units": 100, "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": true,
          "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}},
          "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": null}},
          "bias_initializer": {"class_name": "Zeros", "config": {}},
          "unit_forget_bias": true, "kernel_regularizer": null, "recurrent_regularizer": null, "bias_regularizer": null, "activity_regularizer": null,
          "kernel_constraint": null, "recurrent_constraint": null, "bias_constraint": null, "dropout": 0.4, "recurrent_dropout": 0.4, "implementation": 1}},
        "merge_mode": "concat"}},
      {"class_name": "LayerNormalization", "config": {"name": "layer_normalization", "trainable": true, "dtype": "float32",
        "axis": [2], "epsilon": 0.001, "center": true, "scale": true,
        "beta_initializer": {"class_name": "Zeros", "config": {}}, "gamma_initializer": {"class_name": "Ones", "config": {}},
        "beta_regularizer": null, "gamma_regularizer": null, "beta_constraint": null, "gamma_constraint": null}},
      {"class_name": "Bidirectional", "config": {"name": "bidirectional_1", "trainable": true, "dtype": "float32",
        "layer": {"class_name": "LSTM", "config": {"name": "lstm_1", "trainable": true, "dtype": "float32",
          "return_sequences": false, "return_state": false, "go_backwards": false, "stateful": false, "unroll": false, "time_major": false,
          "units": 200, "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": true,
          "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}},
          "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": null}},
          "bias_initializer": {"class_name": "Zeros", "config": {}},
          "unit_forget_bias": true, "kernel_regularizer": null, "recurrent_regularizer": null, "bias_regularizer": null, "activity_regularizer": null,
          "kernel_constraint": null, "recurrent_constraint": null, "bias_constraint": null, "dropout": 0.4, "recurrent_dropout": 0.4, "implementation": 1}},
        "merge_mode": "concat"}},
      {"class_name": "LayerNormalization", "config": {"name": "layer_normalization_1", "trainable": true, "dtype": "float32",
        "axis": [1], "epsilon": 0.001, "center": true, "scale": true,
        "beta_initializer": {"class_name": "Zeros", "config": {}}, "gamma_initializer": {"class_name": "Ones", "config": {}},
        "beta_regularizer": null, "gamma_regularizer": null, "beta_constraint": null, "gamma_constraint": null}},
      {"class_name": "Dense", "config": {"name": "dense", "trainable": true, "dtype": "float32", "units": 2, "activation": "linear", "use_bias": true,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}}, "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}}]},
     "keras_version": "2.15.0", "backend": "tensorflow"}
    """;

    /// <summary>
    /// A padded-sequence classifier, <c>Sequential([Input((50, 32)), Masking(mask_value=-1.0), LSTM(100,
    /// return_sequences=True), LSTM(200), Dense(2, activation="softmax")])</c>, in Keras 3 (3.4 and later). Masking.get_config
    /// is the base config (name, trainable, dtype) and mask_value (keras/src/layers/core/masking.py). Masking has no build
    /// of its own, but Layer's build wrapper records the shape of the first call for the default one too, so a built
    /// model writes its build_config (a Keras that marks such layers built at construction writes none; both read).
    /// </summary>
    public const string MaskedLstmKeras3 = """
    {"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "trainable": true,
     "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
     "layers": [
      {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 50, 32], "dtype": "float32", "sparse": false, "ragged": false, "name": "input_layer", "optional": false}, "registered_name": null},
      {"module": "keras.layers", "class_name": "Masking", "config": {"name": "masking", "trainable": true,
        "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
        "mask_value": -1.0}, "registered_name": null, "build_config": {"input_shape": [null, 50, 32]}},
      {"module": "keras.layers", "class_name": "LSTM", "config": {"name": "lstm", "trainable": true,
        "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
        "return_sequences": true, "return_state": false, "go_backwards": false, "stateful": false, "unroll": false, "zero_output_for_mask": false,
        "units": 100, "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": true,
        "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null},
        "recurrent_initializer": {"module": "keras.initializers", "class_name": "OrthogonalInitializer", "config": {"gain": 1.0, "seed": null}, "registered_name": null},
        "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null},
        "unit_forget_bias": true, "kernel_regularizer": null, "recurrent_regularizer": null, "bias_regularizer": null, "activity_regularizer": null,
        "kernel_constraint": null, "recurrent_constraint": null, "bias_constraint": null, "dropout": 0.0, "recurrent_dropout": 0.0, "seed": null},
       "registered_name": null, "build_config": {"input_shape": [null, 50, 32]}},
      {"module": "keras.layers", "class_name": "LSTM", "config": {"name": "lstm_1", "trainable": true,
        "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
        "return_sequences": false, "return_state": false, "go_backwards": false, "stateful": false, "unroll": false, "zero_output_for_mask": false,
        "units": 200, "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": true,
        "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null},
        "recurrent_initializer": {"module": "keras.initializers", "class_name": "OrthogonalInitializer", "config": {"gain": 1.0, "seed": null}, "registered_name": null},
        "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null},
        "unit_forget_bias": true, "kernel_regularizer": null, "recurrent_regularizer": null, "bias_regularizer": null, "activity_regularizer": null,
        "kernel_constraint": null, "recurrent_constraint": null, "bias_constraint": null, "dropout": 0.0, "recurrent_dropout": 0.0, "seed": null},
       "registered_name": null, "build_config": {"input_shape": [null, 50, 100]}},
      {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "trainable": true,
        "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
        "units": 2, "activation": "softmax", "use_bias": true,
        "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null},
        "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null},
        "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null},
       "registered_name": null, "build_config": {"input_shape": [null, 200]}}],
     "build_input_shape": [null, 50, 32]},
     "registered_name": null, "build_config": {"input_shape": [null, 50, 32]}}
    """;

    /// <summary>
    /// The same model in tf.keras 2 (2.4 up to 2.15) as <c>Sequential([Masking(mask_value=-1.0, input_shape=(50, 32)),
    /// LSTM(100, return_sequences=True), LSTM(200), Dense(2, activation="softmax")])</c> writes it: Sequential.get_config
    /// includes the InputLayer it made ("masking_input"), and the Masking, given input_shape, keeps its own
    /// batch_input_shape (engine/base_layer.py get_config); Masking.get_config adds mask_value (layers/core/masking.py).
    /// </summary>
    public const string MaskedLstmKeras2 = """
    {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
      {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 50, 32], "dtype": "float32", "sparse": false, "ragged": false, "name": "masking_input"}},
      {"class_name": "Masking", "config": {"name": "masking", "trainable": true, "batch_input_shape": [null, 50, 32], "dtype": "float32", "mask_value": -1.0}},
      {"class_name": "LSTM", "config": {"name": "lstm", "trainable": true, "dtype": "float32",
        "return_sequences": true, "return_state": false, "go_backwards": false, "stateful": false, "unroll": false, "time_major": false,
        "units": 100, "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": true,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}},
        "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": null}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "unit_forget_bias": true, "kernel_regularizer": null, "recurrent_regularizer": null, "bias_regularizer": null, "activity_regularizer": null,
        "kernel_constraint": null, "recurrent_constraint": null, "bias_constraint": null, "dropout": 0.0, "recurrent_dropout": 0.0, "implementation": 2}},
      {"class_name": "LSTM", "config": {"name": "lstm_1", "trainable": true, "dtype": "float32",
        "return_sequences": false, "return_state": false, "go_backwards": false, "stateful": false, "unroll": false, "time_major": false,
        "units": 200, "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": true,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}},
        "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": null}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "unit_forget_bias": true, "kernel_regularizer": null, "recurrent_regularizer": null, "bias_regularizer": null, "activity_regularizer": null,
        "kernel_constraint": null, "recurrent_constraint": null, "bias_constraint": null, "dropout": 0.0, "recurrent_dropout": 0.0, "implementation": 2}},
      {"class_name": "Dense", "config": {"name": "dense", "trainable": true, "dtype": "float32", "units": 2, "activation": "softmax", "use_bias": true,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}}, "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}}]},
     "keras_version": "2.15.0", "backend": "tensorflow"}
    """;

    /// <summary>
    /// A real Keras 3 <c>to_json()</c> output, verbatim (the string passed to model_from_json in
    /// danielhyuncoder/PolitiSenseAPI, main.py): Input((50,)) → Embedding → LSTM(32, activation="relu") → Dense(10) →
    /// Dense(1, sigmoid), Keras 3.0–3.3 layout (dtypes as strings, InputLayer without "ragged").
    /// </summary>
    public const string PolitiSenseKeras3 = """
    {"module": "keras", "class_name": "Sequential", "config": {"name": "sequential_2", "trainable": true, "dtype": "float32", "layers": [{"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 50], "dtype": "float32", "sparse": false, "name": "input_layer_2"}, "registered_name": null}, {"module": "keras.layers", "class_name": "Embedding", "config": {"name": "embedding_2", "trainable": true, "dtype": "float32", "input_dim": 138137, "output_dim": 64, "embeddings_initializer": {"module": "keras.initializers", "class_name": "RandomUniform", "config": {"minval": -0.05, "maxval": 0.05, "seed": null}, "registered_name": null}, "embeddings_regularizer": null, "activity_regularizer": null, "embeddings_constraint": null, "mask_zero": false}, "registered_name": null, "build_config": {"input_shape": [null, 50]}}, {"module": "keras.layers", "class_name": "LSTM", "config": {"name": "lstm_2", "trainable": true, "dtype": "float32", "return_sequences": false, "return_state": false, "go_backwards": false, "stateful": false, "unroll": false, "zero_output_for_mask": false, "units": 32, "activation": "relu", "recurrent_activation": "sigmoid", "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null}, "recurrent_initializer": {"module": "keras.initializers", "class_name": "OrthogonalInitializer", "config": {"gain": 1.0, "seed": null}, "registered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "unit_forget_bias": true, "kernel_regularizer": null, "recurrent_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "recurrent_constraint": null, "bias_constraint": null, "dropout": 0.0, "recurrent_dropout": 0.0, "seed": null}, "registered_name": null, "build_config": {"input_shape": [null, 50, 64]}}, {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense_4", "trainable": true, "dtype": "float32", "units": 10, "activation": "linear", "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null}, "registered_name": null, "build_config": {"input_shape": [null, 32]}}, {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense_5", "trainable": true, "dtype": "float32", "units": 1, "activation": "sigmoid", "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null}, "registered_name": null, "build_config": {"input_shape": [null, 10]}}], "build_input_shape": [null, 50]}, "registered_name": null, "build_config": {"input_shape": [null, 50]}, "compile_config": {"optimizer": {"module": "keras.optimizers", "class_name": "RMSprop", "config": {"name": "rmsprop", "learning_rate": 0.0010000000474974513, "weight_decay": null, "clipnorm": null, "global_clipnorm": null, "clipvalue": null, "use_ema": false, "ema_momentum": 0.99, "ema_overwrite_frequency": null, "loss_scale_factor": null, "gradient_accumulation_steps": null, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-07, "centered": false}, "registered_name": null}, "loss": {"module": "builtins", "class_name": "function", "config": "binary_crossentropy", "registered_name": "function"}, "loss_weights": null, "metrics": ["accuracy"], "weighted_metrics": null, "run_eagerly": false, "steps_per_execution": 1, "jit_compile": false}}
    """;

    /// <summary>
    /// The Bidirectional(LSTM(200, return_sequences=True)) and Dense(22, softmax) layer configs of a real tf.keras 2.4
    /// model config (a TensorFlow.js model.json "generatedBy": "keras v2.4.0" embedded in a public userscript), verbatim,
    /// wrapped here in a Sequential with an InputLayer of 1200 features (the original's Reshape target [-1, 1200]).
    /// </summary>
    public const string Keras2Bidirectional = """
    {"class_name": "Sequential", "config": {"name": "sequential", "layers": [{"class_name": "InputLayer", "config": {"batch_input_shape": [null, null, 1200], "dtype": "float32", "sparse": false, "ragged": false, "name": "input"}}, {"class_name": "Bidirectional", "config": {"name": "bidi", "trainable": true, "dtype": "float32", "layer": {"class_name": "LSTM", "config": {"name": "lstm", "trainable": true, "dtype": "float32", "return_sequences": true, "return_state": false, "go_backwards": false, "stateful": false, "unroll": false, "time_major": false, "units": 200, "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": true, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}}, "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": null}}, "bias_initializer": {"class_name": "Zeros", "config": {}}, "unit_forget_bias": true, "kernel_regularizer": null, "recurrent_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "recurrent_constraint": null, "bias_constraint": null, "dropout": 0.0, "recurrent_dropout": 0.0, "implementation": 2}}, "merge_mode": "concat"}}, {"class_name": "Dense", "config": {"name": "dense", "trainable": true, "dtype": "float32", "units": 22, "activation": "softmax", "use_bias": true, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}}, "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}}]}}
    """;

    /// <summary>
    /// A tf.keras 2.2.4 config as that version wrote it (quoted in a public README): no InputLayer, the input shape as the
    /// first layer's batch_input_shape, glorot_uniform as VarianceScaling(1, fan_avg, uniform), and the old default
    /// recurrent_activation "hard_sigmoid". The Dropout and Activation layers of the original are left out here.
    /// </summary>
    public const string Keras224HardSigmoid = """
    {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": [{"class_name": "Bidirectional", "config": {"name": "bidirectional_1", "trainable": true, "batch_input_shape": [null, 54, 34], "dtype": "float32", "layer": {"class_name": "LSTM", "config": {"name": "lstm_1", "trainable": true, "return_sequences": false, "return_state": false, "go_backwards": false, "stateful": false, "unroll": false, "units": 128, "activation": "tanh", "recurrent_activation": "hard_sigmoid", "use_bias": true, "kernel_initializer": {"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": null}}, "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": null}}, "bias_initializer": {"class_name": "Zeros", "config": {}}, "unit_forget_bias": true, "kernel_regularizer": null, "recurrent_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "recurrent_constraint": null, "bias_constraint": null, "dropout": 0.0, "recurrent_dropout": 0.0, "implementation": 1}}, "merge_mode": "concat"}}, {"class_name": "Dense", "config": {"name": "dense_1", "trainable": true, "units": 34, "activation": "linear", "use_bias": true, "kernel_initializer": {"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": null}}, "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}}]}, "keras_version": "2.2.4", "backend": "tensorflow"}
    """;
}
