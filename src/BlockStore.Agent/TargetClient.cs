using System.ComponentModel;
using System.Diagnostics;

namespace BlockStore.Agent;

/// <summary>A targetcli step failed; the message never carries a CHAP secret.</summary>
public sealed class TargetException(string message) : Exception(message);

/// <summary>The result of one converge: how many targetcli processes ran and for how long.</summary>
public sealed record TargetRun(int Processes, int Commands, TimeSpan Elapsed);

/// <summary>
/// Runs targetcli the way the agent needs it: read LIO's state from configfs, plan the missing
/// steps, run them ALL in one targetcli process (commands on stdin: one Python start-up per
/// operation instead of one per step, and the CHAP secret never in argv), then read again to
/// verify. targetcli keeps going after a failed line and exits 0, so the re-read, not the exit
/// code, decides success. Repeats (at most 3 rounds) until the plan is empty.
/// Calls are serialised by the caller (TargetLock): rtslib races on configfs (Cinder LP #1460692).
/// </summary>
public sealed class TargetClient(ICommandRunner runner, ITargetStateReader reader, IscsiOptions options, ILogger<TargetClient> logger)
{
    private const int MaxRounds = 3;

    public ITargetStateReader Reader => reader;

    /// <summary>Converges LIO towards <paramref name="plan"/>(state) == nothing to do.</summary>
    public async Task<TargetRun> ConvergeAsync(string what, Func<VolumeTargetState, List<string>> plan, Func<VolumeTargetState> read,
        string? secret, bool forceSave, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var processes = 0;
        var commands = 0;
        string lastErrors = "";
        for (var round = 1; round <= MaxRounds; round++)
        {
            var lines = plan(read());
            if (lines.Count == 0)
            {
                if (forceSave && processes == 0)
                {
                    // A retry that finds everything in place may follow a crash before saveconfig.
                    lines = [TargetPlan.Save];
                }
                else
                {
                    return new TargetRun(processes, commands, clock.Elapsed);
                }
            }

            processes++;
            commands += lines.Count;
            var result = await RunBatchAsync(lines, ct);
            lastErrors = Scrub(result.StdErr, secret);
            if (!result.Succeeded)
            {
                throw new TargetException($"targetcli failed (exit {result.ExitCode}) while {what}: {lastErrors}".Trim());
            }

            if (lastErrors.Length > 0)
            {
                logger.LogDebug("targetcli reported while {What}: {Errors}", what, lastErrors);
            }

            if (lines is [TargetPlan.Save])
            {
                return new TargetRun(processes, commands, clock.Elapsed);
            }
        }

        var remaining = plan(read());
        if (remaining.Count == 0)
        {
            return new TargetRun(processes, commands, clock.Elapsed);
        }

        throw new TargetException(
            $"LIO did not reach the wanted state while {what} after {MaxRounds} targetcli runs; still missing: " +
            $"{Scrub(string.Join("; ", remaining.Where(l => l != TargetPlan.Save)), secret)}; targetcli said: {lastErrors}{Hint(lastErrors)}");
    }

    /// <summary>
    /// What an operator should know about a targetcli refusal whose words alone do not say it:
    /// "Could not create NetworkPortal" is the kernel failing to bind the portal, and when no
    /// process holds that address, LIO itself still holds it after a targetcli was killed while
    /// creating a portal (a kernel bug: the socket leaks; seen in the lab's guest, issue 11).
    /// Empty when there is nothing to add.
    /// </summary>
    public static string Hint(string targetcliErrors) =>
        targetcliErrors.Contains("Could not create NetworkPortal", StringComparison.Ordinal)
            ? " (the kernel could not bind the portal: another program listens on that address and port (ss -ltnp), " +
              "or, with no process shown there, LIO still holds it since a targetcli was killed while creating a portal " +
              "(kernel log: 'Unable to create kthread: iscsi_np', then 'kernel_bind() failed: -98'); only a reboot of the " +
              "storage host frees that; see docs/operations.md)"
            : "";

    /// <summary>
    /// Runs lines in one targetcli process (stdin). "exit" ends the batch explicitly. targetcli
    /// missing or not executable (removed or half-upgraded package) is a failure of this operation,
    /// like any other targetcli failure, not an error that would leave the operation claimed.
    /// </summary>
    public async Task<CommandResult> RunBatchAsync(IReadOnlyList<string> lines, CancellationToken ct)
    {
        try
        {
            return await runner.RunWithInputAsync(options.TargetcliPath, [], string.Join('\n', lines.Append("exit")) + "\n", ct);
        }
        catch (Win32Exception e)
        {
            throw new TargetException($"targetcli ({options.TargetcliPath}) cannot be started: {e.Message}");
        }
    }

    /// <summary>
    /// Removes the secret from targetcli's output (it echoes "Parameter password is now '...'"),
    /// and keeps only lines that say something went wrong, joined on one line.
    /// </summary>
    public static string Scrub(string text, string? secret)
    {
        if (!string.IsNullOrEmpty(secret))
        {
            text = text.Replace(secret, "********", StringComparison.Ordinal);
        }

        return string.Join(" ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.StartsWith("Warning: Could not load preferences file", StringComparison.Ordinal)));
    }
}
