using NumLstm.Optimizers;
using NumLstm.Training;

namespace NumLstm.Tests.Training;

/// <summary>
/// Audit of <see cref="KerasCompileConfig"/> against Keras 3's sources: each optimizer <see cref="KerasCompileConfig.CreateOptimizer"/>
/// builds, with weight decay and clipping, stepped beside Keras' update_step written out in float32 from
/// keras/src/optimizers/*.py and base_optimizer.py (<c>_clip_gradients</c>, then <c>_apply_weight_decay</c>:
/// <c>variable - variable * wd * lr</c>, then <c>update_step</c>); and configs Keras trains (or refuses) that NumLstm
/// handled otherwise.
/// </summary>
public class KerasCompileConfigAuditTests
{
    private static string Model(string compileConfig) => $$"""{"module": "keras", "class_name": "Sequential", "config": {}, "compile_config": {{compileConfig}}}""";

    private static string Optimizer(string className, string config)
        => $$"""{"module": "keras.optimizers", "class_name": "{{className}}", "config": {{config}}, "registered_name": null}""";

    private static KerasCompileConfig Read(string optimizer, string loss = "\"mse\"", string metrics = "null")
        => KerasCompileConfig.FromModelConfig(Model($$"""{"optimizer": {{optimizer}}, "loss": {{loss}}, "loss_weights": null, "metrics": {{metrics}}, "weighted_metrics": null, "run_eagerly": false, "steps_per_execution": 1, "jit_compile": false}"""))!;

    private static float F(double x) => (float)x;

    /// <summary>Keras' update_step for one variable, in float32, operation for operation (plus the base optimizer's weight decay).</summary>
    private sealed class KerasReference(string kind, IReadOnlyDictionary<string, double> h, double learningRate, int n)
    {
        private readonly float[] m = new float[n], v = new float[n], vHat = new float[n], avg = new float[n], mom = new float[n];
        private readonly float[] acc = Enumerable.Repeat(F(h.GetValueOrDefault("initial_accumulator_value")), n).ToArray();
        private float uProduct = 1f;
        private long iterations;

        public void Step(float[] theta, float[] gradient)
        {
            float lr = F(learningRate);
            double wdRaw = h.GetValueOrDefault("weight_decay");
            if (wdRaw != 0)
            {
                float wd = F(wdRaw);
                for (int k = 0; k < n; k++) theta[k] = theta[k] - theta[k] * wd * lr;
            }
            float localStep = iterations + 1, nextStep = iterations + 2;
            switch (kind)
            {
                case "Adam" or "AdamW":
                {
                    float b1p = MathF.Pow(F(h["beta_1"]), localStep), b2p = MathF.Pow(F(h["beta_2"]), localStep);
                    float alpha = lr * MathF.Sqrt(1 - b2p) / (1 - b1p);
                    for (int k = 0; k < n; k++)
                    {
                        float g = gradient[k];
                        m[k] += (g - m[k]) * F(1 - h["beta_1"]);
                        v[k] += (g * g - v[k]) * F(1 - h["beta_2"]);
                        float vk = v[k];
                        if (h.GetValueOrDefault("amsgrad") != 0) { vHat[k] = MathF.Max(vHat[k], v[k]); vk = vHat[k]; }
                        theta[k] -= m[k] * alpha / (MathF.Sqrt(vk) + F(h["epsilon"]));
                    }
                    break;
                }
                case "SGD":
                {
                    float mu = F(h["momentum"]);
                    for (int k = 0; k < n; k++)
                    {
                        float g = gradient[k];
                        if (h["momentum"] != 0)
                        {
                            m[k] = m[k] * mu - g * lr;
                            theta[k] += h.GetValueOrDefault("nesterov") != 0 ? m[k] * mu - g * lr : m[k];
                        }
                        else theta[k] -= g * lr;
                    }
                    break;
                }
                case "RMSprop":
                {
                    float rho = F(h["rho"]), oneMinusRho = F(1 - h["rho"]), eps = F(h["epsilon"]);
                    for (int k = 0; k < n; k++)
                    {
                        float g = gradient[k];
                        v[k] = rho * v[k] + oneMinusRho * (g * g);
                        float denominator;
                        if (h.GetValueOrDefault("centered") != 0)
                        {
                            avg[k] = rho * avg[k] + oneMinusRho * g;
                            denominator = v[k] - avg[k] * avg[k] + eps;
                        }
                        else denominator = v[k] + eps;
                        float increment = lr * g / MathF.Sqrt(denominator);
                        if (h["momentum"] > 0)
                        {
                            mom[k] = F(h["momentum"]) * mom[k] + increment;
                            theta[k] -= mom[k];
                        }
                        else theta[k] -= increment;
                    }
                    break;
                }
                case "Adagrad":
                    for (int k = 0; k < n; k++)
                    {
                        float g = gradient[k];
                        acc[k] += g * g;
                        theta[k] -= lr * g / MathF.Sqrt(acc[k] + F(h["epsilon"]));
                    }
                    break;
                case "Adamax":
                {
                    float b1p = MathF.Pow(F(h["beta_1"]), localStep);
                    for (int k = 0; k < n; k++)
                    {
                        float g = gradient[k];
                        m[k] += (g - m[k]) * F(1 - h["beta_1"]);
                        v[k] = MathF.Max(F(h["beta_2"]) * v[k], MathF.Abs(g));
                        theta[k] -= lr * m[k] / ((1 - b1p) * (v[k] + F(h["epsilon"])));
                    }
                    break;
                }
                case "Nadam":
                {
                    // _backend_update_step: u_product = u_product * beta_1 * (1.0 - 0.5 * 0.96^(iterations + 1)), then update_step.
                    uProduct = uProduct * F(h["beta_1"]) * (1f - 0.5f * MathF.Pow(0.96f, localStep));
                    float beta1 = F(h["beta_1"]), beta2 = F(h["beta_2"]);
                    float uT = beta1 * (1f - 0.5f * MathF.Pow(0.96f, localStep));
                    float uT1 = beta1 * (1f - 0.5f * MathF.Pow(0.96f, nextStep));
                    float uProductT1 = uProduct * uT1;
                    float b2p = MathF.Pow(beta2, localStep);
                    for (int k = 0; k < n; k++)
                    {
                        float g = gradient[k];
                        m[k] += (g - m[k]) * (1 - beta1);
                        v[k] += (g * g - v[k]) * (1 - beta2);
                        float mHat = uT1 * m[k] / (1 - uProductT1) + (1 - uT) * g / (1 - uProduct);
                        float vHatK = v[k] / (1 - b2p);
                        theta[k] -= mHat * lr / (MathF.Sqrt(vHatK) + F(h["epsilon"]));
                    }
                    break;
                }
                default: throw new ArgumentException(kind);
            }
            iterations++;
        }
    }

    private static void AssertStepsLikeKeras(KerasCompileConfig compile, string what)
    {
        const int n = 37;   // a vector part and a scalar tail
        var parameter = new Parameter<float>("w", n);
        var random = new Random(5);
        for (int k = 0; k < n; k++) parameter.Value[k] = (float)(random.NextDouble() * 2 - 1);
        float[] reference = (float[])parameter.Value.Clone();
        Optimizer<float> optimizer = compile.CreateOptimizer([parameter], compile.LearningRate);
        var keras = new KerasReference(compile.Optimizer, compile.Hyperparameters, compile.LearningRate, n);
        for (int step = 0; step < 5; step++)
        {
            float[] gradient = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1) * (step == 2 ? 0 : 1)).ToArray();
            gradient.CopyTo(parameter.Gradient, 0);
            optimizer.Step();
            keras.Step(reference, gradient);
            for (int k = 0; k < n; k++)
                Assert.That(parameter.Value[k], Is.EqualTo(reference[k]).Within(1).Ulps, $"{what}: step {step + 1}, element {k}");
        }
    }

    [TestCase("Adam", """{"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-05, "weight_decay": 0.1}""")]
    [TestCase("Adam", """{"learning_rate": 0.01, "amsgrad": true, "weight_decay": null}""")]
    [TestCase("AdamW", """{"learning_rate": 0.01}""")]
    [TestCase("SGD", """{"learning_rate": 0.1, "momentum": 0.9, "nesterov": true, "weight_decay": 0.05}""")]
    [TestCase("SGD", """{"learning_rate": 0.1, "momentum": 0.5}""")]
    [TestCase("SGD", """{"learning_rate": 0.1, "weight_decay": 0.05}""")]
    [TestCase("RMSprop", """{"learning_rate": 0.01, "rho": 0.8, "momentum": 0.5, "centered": true, "weight_decay": 0.02}""")]
    [TestCase("RMSprop", """{"learning_rate": 0.01}""")]
    [TestCase("Adagrad", """{"learning_rate": 0.1, "initial_accumulator_value": 0.3, "epsilon": 1e-05, "weight_decay": 0.02}""")]
    [TestCase("Adamax", """{"learning_rate": 0.01, "beta_1": 0.85, "weight_decay": 0.02}""")]
    [TestCase("Nadam", """{"learning_rate": 0.01, "beta_1": 0.85, "beta_2": 0.99, "weight_decay": 0.02}""")]
    public void CreateOptimizer_StepsAsKerasUpdateStep_WithWeightDecay(string className, string config)
        => AssertStepsLikeKeras(Read(Optimizer(className, config)), $"{className} {config}");

    /// <summary>
    /// keras/src/optimizers/sgd.py: <c>if self.momentum != 0: m = self.momentums[...]</c> ... <c>if m is not None:</c> (the
    /// Nesterov branch) <c>else: self.assign_sub(variable, ops.multiply(gradient, learning_rate))</c>: SGD(nesterov=True)
    /// with momentum 0 trains as plain SGD. NumLstm's Sgd refuses nesterov without momentum (PyTorch's rule), so the
    /// factory threw an ArgumentException when Fit built the optimizer.
    /// </summary>
    [Test]
    public void Sgd_NesterovWithoutMomentum_TrainsAsPlainSgd_AsKeras()
    {
        KerasCompileConfig compile = Read(Optimizer("SGD", """{"name": "SGD", "learning_rate": 0.1, "momentum": 0.0, "nesterov": true, "weight_decay": 0.05}"""));
        AssertStepsLikeKeras(compile, "SGD(momentum=0.0, nesterov=True)");
    }

    /// <summary>
    /// keras/src/optimizers/sgd.py: <c>if not isinstance(momentum, float) or momentum &lt; 0 or momentum &gt; 1: raise
    /// ValueError("`momentum` must be a float between [0, 1].")</c>: Keras does not load an SGD with momentum 1.5;
    /// NumLstm trained with it.
    /// </summary>
    [Test]
    public void Sgd_MomentumAboveOne_IsRefused_AsKerasRaises()
    {
        var e = Assert.Throws<FormatException>(() => Read(Optimizer("SGD", """{"learning_rate": 0.1, "momentum": 1.5}""")));
        Assert.That(e!.Message, Does.Contain("compile_config.optimizer.config.momentum"));
    }

    /// <summary>
    /// Hyperparameters the reader took but NumLstm's optimizer constructors refuse (ε = 0, β = 1, ρ = 1): the refusal came
    /// as an ArgumentOutOfRangeException from the factory when Fit built the optimizer, not as the reader's
    /// FormatException naming the JSON path.
    /// </summary>
    [TestCase("Adam", "epsilon", "0.0")]
    [TestCase("Adam", "beta_1", "1.0")]
    [TestCase("Nadam", "beta_2", "1.0")]
    [TestCase("RMSprop", "rho", "1.0")]
    [TestCase("Adagrad", "epsilon", "0.0")]
    [TestCase("Adamax", "beta_1", "2.0")]
    public void HyperparametersNumLstmCannotBuild_AreRefusedWhenRead_AsFormatException(string className, string key, string value)
    {
        FormatException? e = null;
        try
        {
            KerasCompileConfig compile = Read(Optimizer(className, $$"""{"{{key}}": {{value}}}"""));
            compile.CreateOptimizer([new Parameter<float>("w", 3)], compile.LearningRate);
        }
        catch (FormatException caught) { e = caught; }
        Assert.That(e, Is.Not.Null, "refused as a FormatException when read");
        Assert.That(e!.Message, Does.Contain($"compile_config.optimizer.config.{key}"));
    }

    /// <summary>
    /// keras/src/trainers/compile_utils.py CompileMetrics.__init__: <c>if metrics and not isinstance(metrics, (list, tuple,
    /// dict)): raise ValueError("Expected `metrics` argument to be a list, tuple, or dict. ...")</c>: compile(metrics="mae")
    /// raises in Keras; NumLstm read it as ["mae"].
    /// </summary>
    [Test]
    public void Metrics_ABareString_IsRefused_AsKerasRaises()
    {
        var e = Assert.Throws<FormatException>(() => Read("\"adam\"", metrics: "\"mae\""));
        Assert.That(e!.Message, Does.Contain("compile_config.metrics"));
    }
    /// <summary>
    /// base_optimizer.py <c>_clip_by_norm</c> (per variable: <c>values * clipnorm / maximum(l2norm, clipnorm)</c>, l2norm 0
    /// for an all-zero gradient) and <c>clip_by_global_norm</c> (<c>clip_norm * minimum(1.0 / use_norm, 1.0 / clip_norm)</c>,
    /// applied always), in float32, beside the clip modes the reader maps clipnorm and global_clipnorm to.
    /// </summary>
    [Test]
    public void ClipModes_ComputeKerasClipping()
    {
        float[][] gradients = [[3f, -4f, 0.5f], [0f, 0f], [0.1f, 0.2f, -0.05f, 0.3f], [12f]];
        Parameter<float>[] Fresh() => gradients.Select((g, i) => { var p = new Parameter<float>($"p{i}", g.Length); g.CopyTo(p.Gradient, 0); return p; }).ToArray();

        Assert.That(Read(NumLstmOptimizer("clipnorm", "1.5")).Clip, Is.EqualTo(ClipMode.Norm));
        Parameter<float>[] byNorm = Fresh();
        GradientClipping.ClipByNorm(byNorm, 1.5);
        for (int p = 0; p < gradients.Length; p++)
        {
            float l2sum = gradients[p].Sum(g => g * g);
            float l2norm = l2sum > 0 ? MathF.Sqrt(l2sum) : l2sum;
            for (int k = 0; k < gradients[p].Length; k++)
                Assert.That(byNorm[p].Gradient[k], Is.EqualTo(gradients[p][k] * 1.5f / MathF.Max(l2norm, 1.5f)).Within(1).Ulps, $"clipnorm p{p}[{k}]");
        }

        Assert.That(Read(NumLstmOptimizer("global_clipnorm", "2.0")).Clip, Is.EqualTo(ClipMode.GlobalNormKeras));
        Parameter<float>[] byGlobal = Fresh();
        GradientClipping.ClipByGlobalNormKeras(byGlobal, 2.0);
        float useNorm = MathF.Sqrt(gradients.Sum(g => g.Sum(x => x * x)));
        float scale = 2f * MathF.Min(1f / useNorm, (float)(1.0 / 2.0));
        for (int p = 0; p < gradients.Length; p++)
            for (int k = 0; k < gradients[p].Length; k++)
                Assert.That(byGlobal[p].Gradient[k], Is.EqualTo(gradients[p][k] * scale).Within(1).Ulps, $"global_clipnorm p{p}[{k}]");
    }

    private static string NumLstmOptimizer(string key, string value) => Optimizer("Adam", $$"""{"{{key}}": {{value}}}""");
    /// <summary>
    /// base_optimizer.py <c>_clip_gradients</c>: <c>if self.clipnorm and self.clipnorm &gt; 0:</c> ... <c>elif
    /// self.global_clipnorm and self.global_clipnorm &gt; 0:</c> ... <c>elif self.clipvalue and self.clipvalue &gt; 0:</c> ...
    /// <c>else: return grads</c>: a limit of 0 (or below) clips nothing, and Keras trains; NumLstm refused it. Two set (0
    /// counted: <c>a is not None</c>) still raise in Keras' __init__.
    /// </summary>
    [TestCase("clipnorm", "0.0")]
    [TestCase("global_clipnorm", "0.0")]
    [TestCase("clipvalue", "-1.0")]
    public void AClipLimitOfZeroOrBelow_ClipsNothing_AsKeras(string key, string value)
    {
        KerasCompileConfig compile = Read(Optimizer("Adam", $$"""{"{{key}}": {{value}}}"""));
        Assert.That(compile.Clip, Is.EqualTo(ClipMode.None));
        var e = Assert.Throws<FormatException>(() => Read(Optimizer("Adam", $$"""{"{{key}}": {{value}}, "{{(key == "clipvalue" ? "clipnorm" : "clipvalue")}}": 1.0}""")));
        Assert.That(e!.Message, Does.Contain("only one of clipnorm, clipvalue and global_clipnorm"));
    }
}
