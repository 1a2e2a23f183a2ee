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
}

/// <summary>
/// Runs programs with an argument list (ProcessStartInfo.ArgumentList), never through a shell,
/// so no argument is ever re-parsed.
/// </summary>
public sealed class ProcessCommandRunner(ILogger<ProcessCommandRunner> logger) : ICommandRunner
{
    public async Task<CommandResult> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
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
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"Cannot start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        var result = new CommandResult(process.ExitCode, await stdout, await stderr);
        logger.LogDebug("{Program} {Args} -> {Exit} in {Ms:0} ms", program, string.Join(' ', arguments), result.ExitCode,
            Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return result;
    }
}
