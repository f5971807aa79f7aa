namespace NumLstm.Data;

/// <summary>
/// The Mackey-Glass delay differential equation (Mackey and Glass 1977), the classic chaotic benchmark series:
/// <code>dx/dt = beta * x(t - tau) / (1 + x(t - tau)^10) - gamma * x(t),   beta = 0.2, gamma = 0.1</code>
/// chaotic for tau = 17. Integrated with classical RK4 at step dt = 0.1; the delayed term at the half step is the mean
/// of the two neighbouring stored values (linear interpolation). The result is sampled every 1 time unit.
/// </summary>
public static class MackeyGlass
{
    public const double Beta = 0.2;
    public const double Gamma = 0.1;
    public const int Exponent = 10;
    public const double Dt = 0.1;
    private const int StepsPerSample = 10; // 1 time unit / Dt

    /// <summary>
    /// <paramref name="length"/> samples x(t0), x(t0 + 1), ... The initial history on [-tau, 0] is
    /// <c>1.2 + 0.2*(u - 0.5)</c> per integration step with u uniform from <c>System.Random(seed)</c>, so seeds give
    /// different trajectories; the first <paramref name="washout"/> time units are integrated and dropped so the
    /// series starts on the attractor. Gaussian noise of standard deviation <paramref name="noiseStd"/> (drawn from
    /// the same Random, Box-Muller) is then added to each sample; the dynamics stay noise-free.
    /// </summary>
    public static float[] Generate(int length, int seed, double tau = 17.0, double noiseStd = 0.0, int washout = 500)
    {
        if (length < 1)
            throw new ArgumentOutOfRangeException(nameof(length), length, "length must be at least 1.");
        if (!(tau >= Dt) || !double.IsFinite(tau))
            throw new ArgumentOutOfRangeException(nameof(tau), tau, $"tau must be a finite delay of at least dt = {Dt}.");
        if (tau / Dt >= Array.MaxLength)   // the ring buffer holds tau / dt + 1 states
            throw new ArgumentOutOfRangeException(nameof(tau), tau, $"tau must be below {Array.MaxLength} × dt = {Array.MaxLength * Dt} (the delay's states fill one array).");
        if (Math.Abs(tau / Dt - Math.Round(tau / Dt)) > 1e-9)
            throw new ArgumentOutOfRangeException(nameof(tau), tau, $"tau must be a multiple of dt = {Dt} (the delay is a whole number of integration steps).");
        if (!(noiseStd >= 0.0) || !double.IsFinite(noiseStd))
            throw new ArgumentOutOfRangeException(nameof(noiseStd), noiseStd, "noiseStd must be finite and >= 0.");
        if (washout < 0)
            throw new ArgumentOutOfRangeException(nameof(washout), washout, "washout must not be negative.");
        if ((long)washout + length > int.MaxValue)   // their int sum wrapped negative: no step ran and the series came out all zeros
            throw new ArgumentOutOfRangeException(nameof(washout), washout, $"washout + length = {(long)washout + length} samples; expected at most {int.MaxValue}.");

        var random = new Random(seed);
        int delay = (int)Math.Round(tau / Dt);              // tau in integration steps
        long totalSteps = (long)(washout + length) * StepsPerSample;
        // Ring buffer of the last delay+1 states: history[k % (delay+1)] holds x at step k.
        var history = new double[delay + 1];
        for (int k = 0; k <= delay; k++)
            history[k] = 1.2 + 0.2 * (random.NextDouble() - 0.5);
        int ring = delay + 1;
        long current = delay;                               // step index of the newest state
        double x = history[current % ring];

        var series = new float[length];
        int written = 0;
        for (long step = 0; step < totalSteps; step++)
        {
            double delayedNow = history[(current - delay) % ring];
            double delayedNext = history[(current - delay + 1) % ring];
            double delayedHalf = 0.5 * (delayedNow + delayedNext);
            double k1 = Derivative(x, delayedNow);
            double k2 = Derivative(x + 0.5 * Dt * k1, delayedHalf);
            double k3 = Derivative(x + 0.5 * Dt * k2, delayedHalf);
            double k4 = Derivative(x + Dt * k3, delayedNext);
            x += Dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
            current++;
            history[current % ring] = x;                    // overwrites step current-delay-1, no longer needed
            if ((step + 1) % StepsPerSample == 0 && step + 1 > (long)washout * StepsPerSample)
                series[written++] = (float)x;
        }

        if (noiseStd > 0.0)
        {
            for (int k = 0; k < length; k++)
                series[k] = (float)(series[k] + noiseStd * Gaussian(random));
        }
        return series;
    }

    private static double Derivative(double x, double delayed) =>
        Beta * delayed / (1.0 + Math.Pow(delayed, Exponent)) - Gamma * x;

    private static double Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble();               // (0, 1]: log is finite
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
