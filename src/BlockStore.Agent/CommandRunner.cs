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
/// so no argument is ever re-parsed.
/// </summary>
public sealed class ProcessCommandRunner(ILogger<ProcessCommandRunner> logger) : ICommandRunner
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
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"Cannot start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput.AsMemory(), ct);
            process.StandardInput.Close();
        }

        await process.WaitForExitAsync(ct);
        var result = new CommandResult(process.ExitCode, await stdout, await stderr);
        logger.LogDebug("{Program} {Args} -> {Exit} in {Ms:0} ms", program, string.Join(' ', arguments), result.ExitCode,
            Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return result;
    }
}
