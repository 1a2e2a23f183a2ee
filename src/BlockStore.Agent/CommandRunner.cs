using System.Diagnostics;

namespace BlockStore.Agent;

/// <summary>The result of one external command.</summary>
public sealed record CommandResult(int ExitCode, string StdOut, string StdErr)
{
    public bool Succeeded => ExitCode == 0;
}

/// <summary>Runs an external program. An interface so unit tests can stand in for LVM.</summary>
public interface ICommandRunner
{
    Task<CommandResult> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken ct);

    /// <summary>
    /// Runs a program with <paramref name="standardInput"/> written to its stdin (then closed):
    /// how targetcli takes a batch of commands in one process, and how secrets stay out of argv
    /// (visible to every user in ps) and out of the debug log.
    /// </summary>
    Task<CommandResult> RunWithInputAsync(string program, IReadOnlyList<string> arguments, string standardInput, CancellationToken ct) =>
        throw new NotSupportedException($"{GetType().Name} cannot write to a program's standard input.");
}

/// <summary>
/// Runs programs with an argument list (ProcessStartInfo.ArgumentList), never through a shell,
/// so no argument is ever re-parsed. Each command runs under its deadline (CommandDeadlines); on
/// the deadline or on cancellation the process is killed with every process it started, so a
/// hung lvcreate or targetcli neither outlives its attempt nor keeps holding a lock.
/// </summary>
public sealed class ProcessCommandRunner(ILogger<ProcessCommandRunner> logger, CommandDeadlines deadlines) : ICommandRunner
{
    public Task<CommandResult> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken ct) =>
        RunCoreAsync(program, arguments, null, ct);

    public Task<CommandResult> RunWithInputAsync(string program, IReadOnlyList<string> arguments, string standardInput, CancellationToken ct) =>
        RunCoreAsync(program, arguments, standardInput, ct);

    private async Task<CommandResult> RunCoreAsync(string program, IReadOnlyList<string> arguments, string? standardInput, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = standardInput is not null,
            UseShellExecute = false,
        };
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }

        // LVM warns about every inherited descriptor; the warning is noise in status reasons.
        psi.Environment["LVM_SUPPRESS_FD_WARNINGS"] = "1";
        psi.Environment["LC_ALL"] = "C";

        var started = Stopwatch.GetTimestamp();
        var deadline = deadlines.For(program);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"Cannot start {program}");
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(deadline);
        var stdout = process.StandardOutput.ReadToEndAsync(limit.Token);
        var stderr = process.StandardError.ReadToEndAsync(limit.Token);
        try
        {
            if (standardInput is not null)
            {
                await process.StandardInput.WriteAsync(standardInput.AsMemory(), limit.Token);
                process.StandardInput.Close();
            }

            await process.WaitForExitAsync(limit.Token);
            await Task.WhenAll(stdout, stderr);
        }
        catch (Exception e) when (e is OperationCanceledException || (limit.IsCancellationRequested && e is IOException))
        {
            KillTree(process, program);
            var ran = Stopwatch.GetElapsedTime(started);
            if (ct.IsCancellationRequested)
            {
                throw;
            }

            logger.LogError("{Program} {Args} ran past its deadline of {Deadline} s; killed after {Ms:0} ms", program, string.Join(' ', arguments),
                deadline.TotalSeconds, ran.TotalMilliseconds);
            AgentMetrics.Command(program, ran, "deadline");
            throw new CommandDeadlineException(program, deadline, ran);
        }

        var result = new CommandResult(process.ExitCode, await stdout, await stderr);
        AgentMetrics.Command(program, Stopwatch.GetElapsedTime(started), result.Succeeded ? null : "exit");
        logger.LogDebug("{Program} {Args} -> {Exit} in {Ms:0} ms", program, string.Join(' ', arguments), result.ExitCode,
            Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return result;
    }

    /// <summary>Kills the process and its descendants (a wrapper script's children too); it may already have exited.</summary>
    private void KillTree(Process process, string program)
    {
        try
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            logger.LogDebug("{Program} was already gone when killed: {Message}", program, e.Message);
        }
    }
}
