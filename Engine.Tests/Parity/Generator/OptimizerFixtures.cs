using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;
using TorchParameter = TorchSharp.Modules.Parameter;

namespace NumLstm.Parity.Generator;

/// <summary>
/// Ten optimizer steps from given parameters and a given gradient sequence, and gradient clipping.
///
/// The trajectories follow PyTorch 2.10's torch.optim.Adam / SGD / RMSprop / Adagrad / Adamax / NAdam as Python runs them
/// on CPU tensors (torch/optim/adam.py _single_tensor_adam, sgd.py _single_tensor_sgd, rmsprop.py _single_tensor_rmsprop,
/// adagrad.py _single_tensor_adagrad, adamax.py _single_tensor_adamax, nadam.py _single_tensor_nadam, foreach and fused
/// off), written op for op
/// with the same libtorch kernels (lerp_, mul_().addcmul_(), sqrt() / bc2**0.5 .add_(eps), addcdiv_, maximum;
/// add(alpha=), mul_().add_(), add_(alpha=-lr)). TorchSharp's own optimizer classes (torch.optim.Adam/AdamW/SGD in
/// C#) write the first moment as mul_(β1).add_(g, 1 − β1), as PyTorch did before 2.1; they are run too and their
/// distance from the stored trajectory is written to the metadata as a cross-check.
///
/// Tensors: param.&lt;p&gt; (θ0), grad.&lt;p&gt; [10, n] (the gradient of each step), trajectory.&lt;p&gt; [10, n] (θ after each
/// step) and state.&lt;p&gt;.&lt;slot&gt; (exp_avg, exp_avg_sq, max_exp_avg_sq, momentum_buffer after the last step);
/// hyperparameters in the metadata.
/// </summary>
internal static class OptimizerFixtures
{
    private const int Steps = 10;
    private static readonly string[] Names = { "p_len1", "p_len7", "p_len33" };
    private static readonly int[] Lengths = { 1, 7, 33 };

    private sealed record Hyper(string Kind, double Lr, double Beta1 = 0.9, double Beta2 = 0.999, double Eps = 1e-8, double WeightDecay = 0,
        bool AmsGrad = false, double Momentum = 0, double Dampening = 0, bool Nesterov = false, double Alpha = 0.99, bool Centered = false,
        double LrDecay = 0, double InitialAccumulator = 0, double MomentumDecay = 4e-3, bool Decoupled = false);

    public static IEnumerable<string> Write(string folder)
    {
        var (theta0, grads) = Data();
        yield return Trajectory(folder, "optim_adam_eps1e-8.safetensors", new Hyper("Adam", 1e-3, Eps: 1e-8), theta0, grads);
        yield return Trajectory(folder, "optim_adam_eps1e-7.safetensors", new Hyper("Adam", 1e-3, Eps: 1e-7), theta0, grads);
        yield return Trajectory(folder, "optim_adam_amsgrad_wd.safetensors", new Hyper("Adam", 1e-2, Beta1: 0.8, Beta2: 0.99, WeightDecay: 0.05, AmsGrad: true), theta0, grads);
        yield return Trajectory(folder, "optim_adamw.safetensors", new Hyper("AdamW", 1e-2, WeightDecay: 0.01), theta0, grads);
        yield return Trajectory(folder, "optim_sgd_momentum_dampening_wd.safetensors", new Hyper("SGD", 1e-2, Momentum: 0.9, Dampening: 0.5, WeightDecay: 0.01), theta0, grads);
        yield return Trajectory(folder, "optim_sgd_nesterov.safetensors", new Hyper("SGD", 1e-2, Momentum: 0.9, Nesterov: true), theta0, grads);
        yield return Trajectory(folder, "optim_rmsprop.safetensors", new Hyper("RMSprop", 1e-2, Alpha: 0.99, Eps: 1e-8), theta0, grads);
        yield return Trajectory(folder, "optim_rmsprop_centered_momentum_wd.safetensors",
            new Hyper("RMSprop", 1e-2, Alpha: 0.9, Eps: 1e-7, Momentum: 0.9, Centered: true, WeightDecay: 0.01), theta0, grads);
        yield return Trajectory(folder, "optim_rmsprop_alpha0.3_momentum.safetensors", new Hyper("RMSprop", 1e-3, Alpha: 0.3, Eps: 1e-6, Momentum: 0.5, Centered: true), theta0, grads);
        yield return Trajectory(folder, "optim_adagrad.safetensors", new Hyper("Adagrad", 1e-2, Eps: 1e-10), theta0, grads);
        yield return Trajectory(folder, "optim_adagrad_decay_accumulator_wd.safetensors",
            new Hyper("Adagrad", 1e-2, Eps: 1e-7, LrDecay: 0.1, InitialAccumulator: 0.1, WeightDecay: 0.01), theta0, grads);
        yield return Trajectory(folder, "optim_adamax.safetensors", new Hyper("Adamax", 2e-3, Eps: 1e-8), theta0, grads);
        yield return Trajectory(folder, "optim_adamax_beta0.3_wd.safetensors", new Hyper("Adamax", 1e-2, Beta1: 0.3, Beta2: 0.9, Eps: 1e-6, WeightDecay: 0.01), theta0, grads);
        yield return Trajectory(folder, "optim_nadam.safetensors", new Hyper("NAdam", 2e-3, Eps: 1e-8), theta0, grads);
        yield return Trajectory(folder, "optim_nadam_wd.safetensors", new Hyper("NAdam", 1e-2, Beta1: 0.8, Beta2: 0.99, Eps: 1e-7, WeightDecay: 0.01, MomentumDecay: 0.1), theta0, grads);
        yield return Trajectory(folder, "optim_nadamw_beta0.3.safetensors", new Hyper("NAdam", 1e-2, Beta1: 0.3, Eps: 1e-7, WeightDecay: 0.05, MomentumDecay: 1, Decoupled: true), theta0, grads);
        yield return Clipping(folder);
    }

    /// <summary>θ0 ~ N(0, 1); gradients N(0, σ_p²) with σ = 1, 0.1, 10, plus exact zeros, ±1e-30 and ±1e6 at fixed
    /// places, a whole tensor of zeros at step 5, and one element whose gradient is 0 at every step.</summary>
    private static (Tensor[] Theta0, Tensor[] Grads) Data()
    {
        torch.manual_seed(701);
        double[] sigma = { 1, 0.1, 10 };
        var theta0 = Lengths.Select(n => LayerFixtures.Randn(n)).ToArray();
        var grads = new Tensor[Names.Length];
        for (int p = 0; p < Names.Length; p++)
        {
            var g = LayerFixtures.Randn(Steps, Lengths[p]) * sigma[p];
            var values = g.data<double>().ToArray();
            for (int t = 0; t < Steps; t++)
                for (int k = 0; k < Lengths[p]; k++)
                {
                    int h = (k * 31 + t * 7 + p * 13) % 41;
                    double sign = values[t * Lengths[p] + k] < 0 ? -1 : 1;
                    if (h == 3) values[t * Lengths[p] + k] = 0;
                    else if (h == 5) values[t * Lengths[p] + k] = sign * 1e-30;
                    else if (h == 7) values[t * Lengths[p] + k] = sign * 1e6;
                }
            if (p == 1) Array.Clear(values, 4 * Lengths[p], Lengths[p]);          // p_len7: all zero at step 5
            if (p == 2) for (int t = 0; t < Steps; t++) values[t * Lengths[p] + 32] = 0;   // p_len33[32]: never a gradient
            grads[p] = torch.tensor(values, new long[] { Steps, Lengths[p] }, dtype: ScalarType.Float64);
        }
        return (theta0, grads);
    }

    private static string Trajectory(string folder, string name, Hyper hyper, Tensor[] theta0, Tensor[] grads)
    {
        var reference = new PythonStepper(hyper, theta0);
        var trajectory = Names.Select(_ => new List<Tensor>()).ToArray();
        for (int t = 0; t < Steps; t++)
        {
            reference.Step(grads.Select(g => g[t].clone()).ToArray());
            for (int p = 0; p < Names.Length; p++) trajectory[p].Add(reference.Parameters[p].clone());
        }
        // TorchSharp 0.107's NAdam class has no decoupled_weight_decay (the library holds no such name), so NAdamW is not
        // cross-checked against it.
        string crossCheck = hyper is { Kind: "NAdam", Decoupled: true }
            ? $"not run: TorchSharp's torch.optim.NAdam class takes no decoupled_weight_decay"
            : string.Create(CultureInfo.InvariantCulture,
                $"TorchSharp's torch.optim.{hyper.Kind} class from the same start: max over steps and tensors of max|Δθ| / max|θ − θ0| = {TorchSharpDistance(hyper, theta0, grads, trajectory):E2}");

        var writer = new FixtureWriter(name,
                $"{Steps} steps of torch.optim.{hyper.Kind} (PyTorch 2.10's single-tensor CPU update in libtorch ops) from param.* with the gradients grad.*[step]; " +
                "trajectory.*[step] = parameters after that step; state.* = optimizer state after the last step")
            .Meta("seed", 701)
            .Meta("kind", hyper.Kind).Meta("lr", hyper.Lr)
            .Meta("torchsharp_optimizer_crosscheck", crossCheck);
        if (hyper.Kind == "SGD")
            writer.Meta("momentum", hyper.Momentum).Meta("dampening", hyper.Dampening).Meta("weight_decay", hyper.WeightDecay).Meta("nesterov", hyper.Nesterov ? "true" : "false");
        else if (hyper.Kind == "RMSprop")
            writer.Meta("alpha", hyper.Alpha).Meta("eps", hyper.Eps).Meta("momentum", hyper.Momentum).Meta("weight_decay", hyper.WeightDecay).Meta("centered", hyper.Centered ? "true" : "false");
        else if (hyper.Kind == "Adagrad")
            writer.Meta("lr_decay", hyper.LrDecay).Meta("initial_accumulator_value", hyper.InitialAccumulator).Meta("eps", hyper.Eps).Meta("weight_decay", hyper.WeightDecay);
        else if (hyper.Kind == "Adamax")
            writer.Meta("beta1", hyper.Beta1).Meta("beta2", hyper.Beta2).Meta("eps", hyper.Eps).Meta("weight_decay", hyper.WeightDecay);
        else if (hyper.Kind == "NAdam")
            writer.Meta("beta1", hyper.Beta1).Meta("beta2", hyper.Beta2).Meta("eps", hyper.Eps).Meta("weight_decay", hyper.WeightDecay)
                .Meta("momentum_decay", hyper.MomentumDecay).Meta("decoupled_weight_decay", hyper.Decoupled ? "true" : "false");
        else
            writer.Meta("beta1", hyper.Beta1).Meta("beta2", hyper.Beta2).Meta("eps", hyper.Eps).Meta("weight_decay", hyper.WeightDecay).Meta("amsgrad", hyper.AmsGrad ? "true" : "false");
        for (int p = 0; p < Names.Length; p++)
        {
            writer.Add($"param.{Names[p]}", theta0[p]).Add($"grad.{Names[p]}", grads[p]).Add($"trajectory.{Names[p]}", torch.stack(trajectory[p]));
            foreach (var (slot, value) in reference.State(p)) writer.Add($"state.{Names[p]}.{slot}", value);
            // NAdam's scalar mu_product (NumLstm's state carries it among its Scalars, not its per-element arrays).
            if (hyper.Kind == "NAdam") writer.Add($"mu_product.{Names[p]}", reference.MuProduct(p));
        }
        return writer.Write(folder);
    }

    /// <summary>The largest normwise distance between TorchSharp's optimizer class and the stored trajectory.</summary>
    private static double TorchSharpDistance(Hyper h, Tensor[] theta0, Tensor[] grads, List<Tensor>[] trajectory)
    {
        var ps = theta0.Select(a => new TorchParameter(a.clone(), requires_grad: true)).ToArray();
        torch.optim.Optimizer optimizer = h.Kind switch
        {
            "Adam" => new TorchSharp.Modules.Adam(ps, h.Lr, h.Beta1, h.Beta2, h.Eps, h.WeightDecay, h.AmsGrad),
            "AdamW" => new TorchSharp.Modules.AdamW(ps, h.Lr, h.Beta1, h.Beta2, h.Eps, h.WeightDecay, h.AmsGrad),
            "RMSprop" => torch.optim.RMSProp(ps, h.Lr, h.Alpha, h.Eps, h.WeightDecay, h.Momentum, h.Centered),
            "Adagrad" => torch.optim.Adagrad(ps, h.Lr, h.LrDecay, h.WeightDecay, h.InitialAccumulator, h.Eps),
            "Adamax" => torch.optim.Adamax(ps, h.Lr, h.Beta1, h.Beta2, h.Eps, h.WeightDecay),
            "NAdam" => torch.optim.NAdam(ps, h.Lr, h.Beta1, h.Beta2, h.Eps, h.WeightDecay, h.MomentumDecay),
            _ => new TorchSharp.Modules.SGD(ps, h.Lr, h.Momentum, h.Dampening, h.WeightDecay, h.Nesterov),
        };
        double worst = 0;
        for (int t = 0; t < Steps; t++)
        {
            for (int p = 0; p < ps.Length; p++) ps[p].grad = grads[p][t].clone();
            optimizer.step();
            for (int p = 0; p < ps.Length; p++)
            {
                double diff = (ps[p].detach() - trajectory[p][t]).abs().max().item<double>();
                double moved = (trajectory[p][t] - theta0[p]).abs().max().item<double>();
                if (moved > 0) worst = Math.Max(worst, diff / moved);
            }
        }
        return worst;
    }

    /// <summary>PyTorch 2.10's _single_tensor_adam / _sgd / _rmsprop / _adagrad / _adamax / _nadam (capturable,
    /// differentiable, maximize off).</summary>
    private sealed class PythonStepper
    {
        private readonly Hyper h;
        private readonly Tensor[] expAvg, expAvgSq, maxExpAvgSq;
        private readonly Tensor?[] momentumBuffer;
        private readonly Tensor[] squareAvg, gradAvg, rmsMomentum, sum, expInf, muProduct;
        private long step;

        public PythonStepper(Hyper hyper, Tensor[] theta0)
        {
            h = hyper;
            Parameters = theta0.Select(a => a.clone()).ToArray();
            expAvg = Parameters.Select(p => torch.zeros_like(p)).ToArray();
            expAvgSq = Parameters.Select(p => torch.zeros_like(p)).ToArray();
            maxExpAvgSq = Parameters.Select(p => torch.zeros_like(p)).ToArray();
            momentumBuffer = new Tensor?[Parameters.Length];
            squareAvg = Parameters.Select(p => torch.zeros_like(p)).ToArray();
            gradAvg = Parameters.Select(p => torch.zeros_like(p)).ToArray();
            rmsMomentum = Parameters.Select(p => torch.zeros_like(p)).ToArray();
            sum = Parameters.Select(p => torch.full_like(p, hyper.InitialAccumulator)).ToArray();   // adagrad.py's state["sum"]
            expInf = Parameters.Select(p => torch.zeros_like(p)).ToArray();
            // nadam.py: state["mu_product"] = torch.ones((), dtype=_get_scalar_dtype()), float64 when the default dtype is
            // (as for these float64 parameters, so that NumLstm's Π in T is PyTorch's in double).
            muProduct = Parameters.Select(p => torch.ones(Array.Empty<long>(), dtype: ScalarType.Float64)).ToArray();
        }

        public Tensor MuProduct(int i) => muProduct[i];

        public Tensor[] Parameters { get; }

        public void Step(Tensor[] grads)
        {
            using var _ = torch.no_grad();
            step++;
            for (int i = 0; i < Parameters.Length; i++)
            {
                if (h.Kind == "SGD") SgdStep(i, grads[i]);
                else if (h.Kind == "RMSprop") RmsPropStep(i, grads[i]);
                else if (h.Kind == "Adagrad") AdagradStep(i, grads[i]);
                else if (h.Kind == "Adamax") AdamaxStep(i, grads[i]);
                else if (h.Kind == "NAdam") NAdamStep(i, grads[i]);
                else AdamStep(i, grads[i]);
            }
        }

        private void AdamStep(int i, Tensor grad)
        {
            Tensor param = Parameters[i];
            if (h.WeightDecay != 0)
            {
                if (h.Kind == "AdamW") param.mul_(1 - h.Lr * h.WeightDecay);
                else grad = grad.add(param, alpha: h.WeightDecay);
            }
            expAvg[i].lerp_(grad, torch.tensor(1 - h.Beta1, dtype: ScalarType.Float64));
            expAvgSq[i].mul_(h.Beta2).addcmul_(grad, grad, 1 - h.Beta2);
            // Python floats: bias_correction1 = 1 - beta1 ** step, step_size = lr / bias_correction1,
            // bias_correction2_sqrt = bias_correction2 ** 0.5.
            double biasCorrection1 = 1 - Math.Pow(h.Beta1, step), biasCorrection2 = 1 - Math.Pow(h.Beta2, step);
            double stepSize = h.Lr / biasCorrection1;
            double biasCorrection2Sqrt = Math.Pow(biasCorrection2, 0.5);
            Tensor denom;
            if (h.AmsGrad)
            {
                maxExpAvgSq[i].copy_(torch.maximum(maxExpAvgSq[i], expAvgSq[i]));
                denom = (maxExpAvgSq[i].sqrt() / biasCorrection2Sqrt).add_(h.Eps);
            }
            else denom = (expAvgSq[i].sqrt() / biasCorrection2Sqrt).add_(h.Eps);
            param.addcdiv_(expAvg[i], denom, -stepSize);
        }

        private void SgdStep(int i, Tensor grad)
        {
            Tensor param = Parameters[i];
            if (h.WeightDecay != 0) grad = grad.add(param, alpha: h.WeightDecay);
            if (h.Momentum != 0)
            {
                Tensor? buffer = momentumBuffer[i];
                if (buffer is null) momentumBuffer[i] = buffer = grad.detach().clone();
                else buffer.mul_(h.Momentum).add_(grad, alpha: 1 - h.Dampening);
                grad = h.Nesterov ? grad.add(buffer, alpha: h.Momentum) : buffer;
            }
            param.add_(grad, alpha: -h.Lr);
        }

        // rmsprop.py: square_avg, momentum_buffer and grad_avg start at zeros_like(param).
        private void RmsPropStep(int i, Tensor grad)
        {
            Tensor param = Parameters[i];
            if (h.WeightDecay != 0) grad = grad.add(param, alpha: h.WeightDecay);
            squareAvg[i].mul_(h.Alpha).addcmul_(grad, grad, 1 - h.Alpha);
            Tensor avg;
            if (h.Centered)
            {
                gradAvg[i].lerp_(grad, torch.tensor(1 - h.Alpha, dtype: ScalarType.Float64));
                avg = squareAvg[i].addcmul(gradAvg[i], gradAvg[i], -1).sqrt_();
            }
            else avg = squareAvg[i].sqrt();
            avg = avg.add_(h.Eps);
            if (h.Momentum > 0)
            {
                rmsMomentum[i].mul_(h.Momentum).addcdiv_(grad, avg);
                param.add_(rmsMomentum[i], alpha: -h.Lr);
            }
            else param.addcdiv_(grad, avg, -h.Lr);
        }

        // adagrad.py's _single_tensor_adagrad (dense gradients).
        private void AdagradStep(int i, Tensor grad)
        {
            Tensor param = Parameters[i];
            if (h.WeightDecay != 0) grad = grad.add(param, alpha: h.WeightDecay);
            double clr = h.Lr / (1 + (step - 1) * h.LrDecay);
            sum[i].addcmul_(grad, grad, 1);
            Tensor std = sum[i].sqrt().add_(h.Eps);
            param.addcdiv_(grad, std, -clr);
        }

        // adamax.py's _single_tensor_adamax (not differentiable, not capturable).
        private void AdamaxStep(int i, Tensor grad)
        {
            Tensor param = Parameters[i];
            if (h.WeightDecay != 0) grad = grad.add(param, alpha: h.WeightDecay);
            expAvg[i].lerp_(grad, torch.tensor(1 - h.Beta1, dtype: ScalarType.Float64));
            expInf[i].copy_(torch.maximum(expInf[i].mul_(h.Beta2), grad.abs().add_(h.Eps)));
            double clr = h.Lr / (1 - Math.Pow(h.Beta1, step));
            param.addcdiv_(expAvg[i], expInf[i], -clr);
        }

        // nadam.py's _single_tensor_nadam (not differentiable, not capturable).
        private void NAdamStep(int i, Tensor grad)
        {
            Tensor param = Parameters[i];
            double biasCorrection2 = 1 - Math.Pow(h.Beta2, step);
            if (h.WeightDecay != 0)
            {
                if (h.Decoupled) param.mul_(1 - h.Lr * h.WeightDecay);
                else grad = grad.add(param, alpha: h.WeightDecay);
            }
            double mu = h.Beta1 * (1.0 - 0.5 * Math.Pow(0.96, step * h.MomentumDecay));
            double muNext = h.Beta1 * (1.0 - 0.5 * Math.Pow(0.96, (step + 1) * h.MomentumDecay));
            muProduct[i].mul_(mu);
            expAvg[i].lerp_(grad, torch.tensor(1 - h.Beta1, dtype: ScalarType.Float64));
            expAvgSq[i].mul_(h.Beta2).addcmul_(grad, grad, 1 - h.Beta2);
            Tensor denom = expAvgSq[i].div(biasCorrection2).sqrt();
            double product = muProduct[i].item<double>();
            double productNext = product * muNext;
            denom.add_(h.Eps);
            param.addcdiv_(grad, denom, -h.Lr * (1.0 - mu) / (1.0 - product));
            param.addcdiv_(expAvg[i], denom, (-h.Lr * muNext) / (1.0 - productNext));
        }

        /// <summary>The state tensors with PyTorch's names (which NumLstm's slots share).</summary>
        public IEnumerable<(string Slot, Tensor Value)> State(int i)
        {
            if (h.Kind == "SGD")
            {
                if (h.Momentum != 0) yield return ("momentum_buffer", momentumBuffer[i]!);
                yield break;
            }
            if (h.Kind == "Adagrad")
            {
                yield return ("sum", sum[i]);
                yield break;
            }
            if (h.Kind == "Adamax")
            {
                yield return ("exp_avg", expAvg[i]);
                yield return ("exp_inf", expInf[i]);
                yield break;
            }
            if (h.Kind == "RMSprop")
            {
                yield return ("square_avg", squareAvg[i]);
                if (h.Momentum > 0) yield return ("momentum_buffer", rmsMomentum[i]);
                if (h.Centered) yield return ("grad_avg", gradAvg[i]);
                yield break;
            }
            yield return ("exp_avg", expAvg[i]);
            yield return ("exp_avg_sq", expAvgSq[i]);
            if (h.AmsGrad) yield return ("max_exp_avg_sq", maxExpAvgSq[i]);   // (NAdam's mu_product is written apart)
        }
    }

    /// <summary>
    /// torch.nn.utils.clip_grad_norm_ (libtorch's C++ clip_grad_norm_, total = ‖(‖g_p‖₂)_p‖₂, c = max_norm / (total + 1e-6),
    /// gradients scaled when c &lt; 1) with clipping active and inactive, and clip_grad_value_ with values beyond, on and
    /// inside the limit. &lt;case&gt;.grad_in.&lt;p&gt;, &lt;case&gt;.grad_out.&lt;p&gt;, norm cases also &lt;case&gt;.total_norm (0-d).
    /// </summary>
    private static string Clipping(string folder)
    {
        torch.manual_seed(801);
        var writer = new FixtureWriter("clipping.safetensors",
                "torch.nn.utils.clip_grad_norm_ (norm_active, norm_inactive: total_norm is its return value) and clip_grad_value_ (value) applied to grad_in.*, giving grad_out.*")
            .Meta("seed", 801)
            .Meta("norm_active.max_norm", 1.0).Meta("norm_inactive.max_norm", 100.0).Meta("value.clip_value", 0.5);
        var active = Lengths.Select(n => LayerFixtures.Randn(n)).ToArray();
        var inactive = Lengths.Select(n => LayerFixtures.Randn(n) * 0.5).ToArray();
        foreach (var (name, grads, maxNorm) in new[] { ("norm_active", active, 1.0), ("norm_inactive", inactive, 100.0) })
        {
            var ps = Gradients(writer, name, grads);
            double total = nn.utils.clip_grad_norm_(ps, maxNorm);
            writer.Add($"{name}.total_norm", torch.tensor(total, dtype: ScalarType.Float64));
            for (int p = 0; p < ps.Length; p++) writer.Add($"{name}.grad_out.{Names[p]}", ps[p].grad!);
        }
        var byValue = Lengths.Select(n => LayerFixtures.Randn(n)).ToArray();
        using (torch.no_grad())
        {
            byValue[2][0] = torch.tensor(0.5, dtype: ScalarType.Float64);
            byValue[2][1] = torch.tensor(-0.5, dtype: ScalarType.Float64);
            byValue[2][2] = torch.tensor(1e6, dtype: ScalarType.Float64);
            byValue[2][3] = torch.tensor(-1e-30, dtype: ScalarType.Float64);
        }
        var valueParams = Gradients(writer, "value", byValue);
        nn.utils.clip_grad_value_(valueParams, 0.5);
        for (int p = 0; p < valueParams.Length; p++) writer.Add($"value.grad_out.{Names[p]}", valueParams[p].grad!);
        return writer.Write(folder);
    }

    private static TorchParameter[] Gradients(FixtureWriter writer, string name, Tensor[] grads)
    {
        var ps = new TorchParameter[grads.Length];
        for (int p = 0; p < grads.Length; p++)
        {
            writer.Add($"{name}.grad_in.{Names[p]}", grads[p]);
            ps[p] = new TorchParameter(torch.zeros_like(grads[p]), requires_grad: true) { grad = grads[p].clone() };
        }
        return ps;
    }
}
