using BlockStore.Agent;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlockStore.Agent.Tests;

/// <summary>
/// Issue 17: a hung external command ends at its deadline and leaves no process behind, a wrapper
/// script's children included. Real processes (a shell script that starts sleep), no stand-in.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CommandDeadlineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bs-deadline-").FullName;

    // A number no other process on the machine sleeps for, so /proc finds exactly ours.
    private readonly int _marker = Random.Shared.Next(100_000, 900_000);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string HangingScript(string name)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, $"#!/bin/sh\nsleep {_marker}\necho never\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    private int SleepersLeft() =>
        Directory.EnumerateDirectories("/proc").Count(d =>
        {
            try
            {
                return File.ReadAllText(Path.Combine(d, "cmdline")).Replace('\0', ' ').Trim() == $"sleep {_marker}";
            }
            catch (IOException)
            {
                return false; // the process ended while we looked
            }
            catch (UnauthorizedAccessException)
            {
                return false;
            }
        });

    [Fact]
    public async Task A_command_past_its_deadline_is_killed_with_its_children_and_named_in_the_error()
    {
        var runner = new ProcessCommandRunner(NullLogger<ProcessCommandRunner>.Instance, new CommandDeadlines { LvmSeconds = 0.5 });
        var lvcreate = HangingScript("lvcreate");

        var e = await Assert.ThrowsAsync<CommandDeadlineException>(() => runner.RunAsync(lvcreate, ["-n", "x"], CancellationToken.None));

        Assert.Matches(@"^lvcreate did not finish within its deadline of 0\.5 s: killed with its process tree after \d+\.\d s$", e.Message);
        Assert.True(await NoSleeperWithin(TimeSpan.FromSeconds(5)), "the sleep the script started outlived the kill");
    }

    [Fact]
    public async Task Cancellation_kills_the_command_too_and_stays_a_cancellation()
    {
        var runner = new ProcessCommandRunner(NullLogger<ProcessCommandRunner>.Instance, new CommandDeadlines());
        var targetcli = HangingScript("targetcli");
        using var cts = new CancellationTokenSource();
        var run = runner.RunAsync(targetcli, [], cts.Token);
        await WaitUntil(() => SleepersLeft() == 1);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.True(await NoSleeperWithin(TimeSpan.FromSeconds(5)), "the sleep the script started outlived the kill");
    }

    [Fact]
    public async Task A_command_within_its_deadline_returns_its_output()
    {
        var runner = new ProcessCommandRunner(NullLogger<ProcessCommandRunner>.Instance, new CommandDeadlines { OtherSeconds = 30 });
        var result = await runner.RunAsync("/bin/echo", ["a b", "c"], CancellationToken.None);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("a b c\n", result.StdOut);
    }

    [Theory]
    [InlineData("lvcreate", 11)]
    [InlineData("/usr/sbin/lvs", 11)]
    [InlineData("/opt/lvm/lvremove", 11)]
    [InlineData("targetcli", 22)]
    [InlineData("/usr/bin/targetcli", 22)]
    [InlineData("iscsiadm", 33)]
    public void Each_command_kind_has_its_own_deadline(string program, double seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), new CommandDeadlines { LvmSeconds = 11, TargetcliSeconds = 22, OtherSeconds = 33 }.For(program));

    // SIGKILL is sent to the whole tree before the runner returns, but a process dies a moment after
    // it is sent (longer on a loaded machine: the run of a full suite saw one still there): allow
    // that moment. A sleep that was not killed sleeps for days, so this still fails then.
    private async Task<bool> NoSleeperWithin(TimeSpan time)
    {
        var until = DateTime.UtcNow + time;
        while (SleepersLeft() > 0)
        {
            if (DateTime.UtcNow >= until)
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var until = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "the command did not start within 20 s");
            await Task.Delay(20);
        }
    }
}
