using System.Diagnostics.Metrics;
using BlockStore.Data;
using BlockStore.Hosting;

namespace BlockStore.Agent;

/// <summary>
/// The agent's instruments: operations by kind and final status, their latency (request to claim,
/// claim to done, request to done), and every LVM or targetcli command's duration and failures.
/// Labels are bounded: operation kinds, statuses, and program names (lvcreate, lvs, targetcli ...).
/// </summary>
public static class AgentMetrics
{
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Retried = "retried";

    private static readonly Counter<long> Operations = BlockStoreMetrics.Meter.CreateCounter<long>(
        "operations_total", description: "Operations this agent finished, by kind and status (succeeded, failed, retried: given back for another attempt).");

    private static readonly Histogram<double> Waited = BlockStoreMetrics.Meter.CreateHistogram<double>(
        "operation_wait_seconds", description: "From the request to the agent's claim (placement and queueing), by kind.");

    private static readonly Histogram<double> Ran = BlockStoreMetrics.Meter.CreateHistogram<double>(
        "operation_run_seconds", description: "From the agent's claim to the recorded outcome, by kind and status.");

    private static readonly Histogram<double> Total = BlockStoreMetrics.Meter.CreateHistogram<double>(
        "operation_seconds", description: "From the request to the recorded outcome, by kind and status.");

    private static readonly Histogram<double> CommandDuration = BlockStoreMetrics.Meter.CreateHistogram<double>(
        "command_duration_seconds", description: "Duration of each LVM or targetcli command, by program.");

    private static readonly Counter<long> CommandFailures = BlockStoreMetrics.Meter.CreateCounter<long>(
        "command_failures_total", description: "LVM or targetcli commands that failed, by program and reason (exit: non-zero exit code; deadline: killed at its deadline).");

    public static void Claimed(ClaimedOperation op)
    {
        if (op.WaitedSeconds is { } waited)
        {
            Waited.Record(Math.Max(0, waited), new KeyValuePair<string, object?>("kind", op.Kind));
        }
    }

    /// <summary>An attempt's outcome; <paramref name="ran"/> is the time since the claim.</summary>
    public static void Finished(ClaimedOperation op, string status, TimeSpan ran)
    {
        var kind = new KeyValuePair<string, object?>("kind", op.Kind);
        var state = new KeyValuePair<string, object?>("status", status);
        Operations.Add(1, kind, state);
        Ran.Record(ran.TotalSeconds, kind, state);
        if (op.WaitedSeconds is { } waited)
        {
            Total.Record(Math.Max(0, waited) + ran.TotalSeconds, kind, state);
        }
    }

    /// <summary>One external command; <paramref name="failure"/> is null when it exited 0.</summary>
    public static void Command(string program, TimeSpan duration, string? failure)
    {
        var name = new KeyValuePair<string, object?>("program", Path.GetFileName(program));
        CommandDuration.Record(duration.TotalSeconds, name);
        if (failure is not null)
        {
            CommandFailures.Add(1, name, new KeyValuePair<string, object?>("reason", failure));
        }
    }
}

/// <summary>The agent's iSCSI state on /healthz: reported, not required (a host without LIO still serves volumes; attach requests are refused up front).</summary>
public sealed class IscsiHealth(TargetCapability capability) : IHealthCheckSource
{
    public IEnumerable<HealthCheck> Checks() => [new HealthCheck("iscsi", capability.Available, capability.Reason, Required: false)];
}
