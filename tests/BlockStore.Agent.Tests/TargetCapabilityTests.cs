using BlockStore.Agent;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlockStore.Agent.Tests;

/// <summary>The start-up iSCSI probe and its repetition while the reason can pass (a slow guest's targetcli).</summary>
public class TargetCapabilityTests : IDisposable
{
    // An existing folder stands for LIO's configfs root: the probe only asks whether it exists.
    private readonly string _configFs = Directory.CreateTempSubdirectory("bs-configfs-").FullName;

    public void Dispose() => Directory.Delete(_configFs, recursive: true);

    /// <summary>targetcli that runs past its deadline the first <paramref name="slowRuns"/> times, then answers.</summary>
    private sealed class SlowThenFineTargetcli(int slowRuns) : ICommandRunner
    {
        public int Runs { get; private set; }

        public Task<CommandResult> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken ct) =>
            throw new InvalidOperationException("the probe writes to targetcli's stdin");

        public Task<CommandResult> RunWithInputAsync(string program, IReadOnlyList<string> arguments, string standardInput, CancellationToken ct) =>
            ++Runs <= slowRuns
                ? throw new CommandDeadlineException(program, TimeSpan.FromSeconds(120), TimeSpan.FromSeconds(179))
                : Task.FromResult(new CommandResult(0, "o- / ...", ""));
    }

    private TargetCapability Capability(ICommandRunner runner, bool enabled = true) => new(
        runner,
        new ConfigFsTargetReader(_configFs),
        // A path with '/' is looked up as given: any existing program stands in for targetcli.
        new AgentOptions { Iscsi = new IscsiOptions { Enabled = enabled, TargetcliPath = "/bin/sh", ConfigFsRoot = _configFs } },
        NullLogger<TargetCapability>.Instance);

    [Fact]
    public async Task ATargetcliThatRanOutOfTimeIsProbedAgainAndTheChangeReported()
    {
        var targetcli = new SlowThenFineTargetcli(slowRuns: 1);
        var capability = Capability(targetcli);

        Assert.True(await capability.ProbeAsync(default)); // the first answer is always news
        Assert.False(capability.Available);
        Assert.Contains("deadline of 120 s", capability.Reason);
        Assert.True(capability.WorthProbingAgain);
        Assert.True(capability.Probed.IsCompleted);

        Assert.True(await capability.ProbeAsync(default)); // changed: now available
        Assert.True(capability.Available);
        Assert.Null(capability.Reason);
        Assert.False(capability.WorthProbingAgain);

        Assert.False(await capability.ProbeAsync(default)); // the same answer again: nothing to report
        Assert.Equal(3, targetcli.Runs);
    }

    [Fact]
    public async Task TheSameFailureTwiceIsNotReportedTwice()
    {
        var capability = Capability(new SlowThenFineTargetcli(slowRuns: 5));
        Assert.True(await capability.ProbeAsync(default));
        Assert.False(await capability.ProbeAsync(default));
        Assert.False(capability.Available);
    }

    [Fact]
    public async Task IscsiSwitchedOffInTheSettingsIsNotProbedAgain()
    {
        var targetcli = new SlowThenFineTargetcli(slowRuns: 0);
        var capability = Capability(targetcli, enabled: false);
        await capability.ProbeAsync(default);
        Assert.False(capability.Available);
        Assert.Contains("Agent:Iscsi:Enabled=false", capability.Reason);
        Assert.False(capability.WorthProbingAgain);
        Assert.Equal(0, targetcli.Runs);
    }
}
