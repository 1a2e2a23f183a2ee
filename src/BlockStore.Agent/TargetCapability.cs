using BlockStore.Core;

namespace BlockStore.Agent;

/// <summary>
/// Whether this host can export over iSCSI, probed once at start: iSCSI enabled in the settings,
/// targetcli installed and runnable (targetcli-fb needs a system D-Bus), and the kernel's LIO
/// present in configfs. The result goes into the service row, where attach requests read it and
/// fail at once with TargetUnavailable instead of queueing work that could never run.
/// </summary>
public sealed class TargetCapability(ICommandRunner runner, ITargetStateReader reader, AgentOptions options, ILogger<TargetCapability> logger)
{
    private readonly TaskCompletionSource _probed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool Available { get; private set; }

    /// <summary>Completes once the start-up probe has run (operations recovered at start wait for it).</summary>
    public Task Probed => _probed.Task;

    public string? Reason { get; private set; } = "not probed yet";

    /// <summary>
    /// Whether probing again can change the answer: not when iSCSI is off or misconfigured in the
    /// settings (that takes a restart), but yes when targetcli ran out of time on a slow host or
    /// LIO's modules were loaded after the agent started.
    /// </summary>
    public bool WorthProbingAgain
    {
        get
        {
            var o = options.Iscsi;
            return !Available && o.Enabled && Core.Iscsi.IsValidTargetPrefix(o.TargetPrefix);
        }
    }

    /// <summary>Probes; returns true when the answer differs from the previous probe's.</summary>
    public async Task<bool> ProbeAsync(CancellationToken ct)
    {
        var (wasAvailable, wasReason) = (Available, Reason);
        (Available, Reason) = await ProbeCoreAsync(ct);
        var first = _probed.TrySetResult();
        if (!first && wasAvailable == Available && wasReason == Reason)
        {
            return false;
        }

        if (Available)
        {
            logger.LogInformation("iSCSI export available (LIO at {Root}, portal {Portal})", options.Iscsi.ConfigFsRoot, options.Iscsi.Portal(options.HostName));
        }
        else
        {
            logger.LogWarning("iSCSI export unavailable on this host: {Reason}", Reason);
        }

        return true;
    }

    public void ThrowIfUnavailable()
    {
        if (!Available)
        {
            throw new TargetException($"{ErrorIds.TargetUnavailable}: {Reason}");
        }
    }

    private async Task<(bool, string?)> ProbeCoreAsync(CancellationToken ct)
    {
        var o = options.Iscsi;
        if (!o.Enabled)
        {
            return (false, "iSCSI export is disabled in the agent settings (Agent:Iscsi:Enabled=false)");
        }

        if (!Core.Iscsi.IsValidTargetPrefix(o.TargetPrefix))
        {
            return (false, $"Agent:Iscsi:TargetPrefix '{o.TargetPrefix}' is not an iqn name without ':'");
        }

        if (FindOnPath(o.TargetcliPath) is null)
        {
            return (false, $"{o.TargetcliPath} is not installed (package targetcli-fb)");
        }

        CommandResult result;
        try
        {
            // Also loads the target modules (rtslib modprobes target_core_mod) on a fresh host.
            result = await runner.RunWithInputAsync(o.TargetcliPath, [], "ls / 1\nexit\n", ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return (false, $"{o.TargetcliPath} cannot run: {e.Message}");
        }

        var errors = TargetClient.Scrub(result.StdErr, null);
        if (!result.Succeeded || errors.Length > 0)
        {
            return (false, $"{o.TargetcliPath} fails: {(errors.Length > 0 ? errors : $"exit {result.ExitCode}")}");
        }

        if (!reader.IsAvailable)
        {
            return (false, $"the kernel has no LIO target ({o.ConfigFsRoot} is missing)");
        }

        return (true, null);
    }

    private static string? FindOnPath(string program)
    {
        if (program.Contains('/'))
        {
            return File.Exists(program) ? program : null;
        }

        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/usr/bin", "/sbin", "/bin"])
            .Select(d => Path.Combine(d, program))
            .FirstOrDefault(File.Exists);
    }
}
