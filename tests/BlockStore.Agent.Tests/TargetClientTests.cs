using BlockStore.Agent;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlockStore.Agent.Tests;

/// <summary>Stands in for targetcli: records each process's stdin, applies a scripted effect.</summary>
internal sealed class FakeTargetcli(Action<IReadOnlyList<string>>? effect = null, string stderr = "", int exitCode = 0) : ICommandRunner
{
    public List<(string Program, IReadOnlyList<string> Args, string Stdin)> Runs { get; } = [];

    public Task<CommandResult> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken ct) =>
        throw new InvalidOperationException("targetcli must get its commands on stdin");

    public Task<CommandResult> RunWithInputAsync(string program, IReadOnlyList<string> arguments, string standardInput, CancellationToken ct)
    {
        Runs.Add((program, arguments, standardInput));
        effect?.Invoke(standardInput.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        return Task.FromResult(new CommandResult(exitCode, "Parameter password is now 'Secret0123456789'.", stderr));
    }
}

public class TargetClientTests
{
    private static TargetClient Client(ICommandRunner runner) =>
        new(runner, new ConfigFsTargetReader("/nonexistent"), new IscsiOptions(), NullLogger<TargetClient>.Instance);

    [Fact]
    public async Task RunsAllMissingStepsInOneTargetcliProcessOnStdin()
    {
        var state = VolumeTargetState.Absent;
        var fake = new FakeTargetcli(_ => state = TargetPlanTests.Complete());
        var run = await Client(fake).ConvergeAsync("test", s => TargetPlan.Export(TargetPlanTests.Spec, s), () => state, "Secret0123456789", false, default);

        Assert.Equal(1, run.Processes);
        var only = Assert.Single(fake.Runs);
        Assert.Equal("targetcli", only.Program);
        Assert.Empty(only.Args); // nothing in argv: the secret is not visible in ps
        Assert.EndsWith("saveconfig\nexit\n", only.Stdin);
        Assert.Contains("password=Secret0123456789", only.Stdin);
    }

    [Fact]
    public async Task NothingMissingMeansNoProcessAtAll()
    {
        var fake = new FakeTargetcli();
        var run = await Client(fake).ConvergeAsync("test", s => TargetPlan.Export(TargetPlanTests.Spec, s), () => TargetPlanTests.Complete(), "Secret0123456789", false, default);
        Assert.Equal(0, run.Processes);
        Assert.Empty(fake.Runs);
    }

    [Fact]
    public async Task ARetryThatFindsEverythingStillSaves()
    {
        var fake = new FakeTargetcli();
        await Client(fake).ConvergeAsync("test", s => TargetPlan.Export(TargetPlanTests.Spec, s), () => TargetPlanTests.Complete(), "Secret0123456789", forceSave: true, default);
        Assert.Equal("saveconfig\nexit\n", Assert.Single(fake.Runs).Stdin);
    }

    [Fact]
    public async Task ConvergesInASecondRoundWhenTheFirstLeftSomethingOut()
    {
        // e.g. auto_add_mapped_luns off: the first batch leaves the ACL without LUN 0.
        var state = VolumeTargetState.Absent;
        var fake = new FakeTargetcli(_ => state = state == VolumeTargetState.Absent
            ? TargetPlanTests.Complete() with { Acls = new Dictionary<string, AclState> { ["iqn.2024-01.com.example:client1"] = new("user0123456789abcdef", "Secret0123456789", false) } }
            : TargetPlanTests.Complete());
        var run = await Client(fake).ConvergeAsync("test", s => TargetPlan.Export(TargetPlanTests.Spec, s), () => state, "Secret0123456789", false, default);
        Assert.Equal(2, run.Processes);
    }

    [Fact]
    public async Task FailsWhenLioNeverGetsThereAndNeverShowsTheSecret()
    {
        var fake = new FakeTargetcli(stderr: "No such path /iscsi/x password=Secret0123456789");
        var e = await Assert.ThrowsAsync<TargetException>(() =>
            Client(fake).ConvergeAsync("test", s => TargetPlan.Export(TargetPlanTests.Spec, s), () => VolumeTargetState.Absent, "Secret0123456789", false, default));
        Assert.Equal(3, fake.Runs.Count);
        Assert.DoesNotContain("Secret0123456789", e.Message);
        Assert.Contains("********", e.Message);
    }

    [Fact]
    public async Task APortalTheKernelCannotBindSaysWhatToCheck()
    {
        // targetcli exits 0 and says so on stderr; LIO never gets the portal (its socket is held).
        var fake = new FakeTargetcli(stderr: "Could not create NetworkPortal in configFS");
        var e = await Assert.ThrowsAsync<TargetException>(() =>
            Client(fake).ConvergeAsync("test", s => TargetPlan.Export(TargetPlanTests.Spec, s), () => VolumeTargetState.Absent, "Secret0123456789", false, default));
        Assert.Contains("targetcli said: Could not create NetworkPortal in configFS (the kernel could not bind the portal", e.Message);
        Assert.Contains("ss -ltnp", e.Message);
        Assert.Contains("only a reboot of the storage host frees that", e.Message);
    }

    [Fact]
    public void OtherRefusalsGetNoHint()
    {
        Assert.Equal("", TargetClient.Hint("No such path /iscsi/x"));
        Assert.Equal("", TargetClient.Hint(""));
    }

    [Fact]
    public async Task ANonZeroExitIsAnError()
    {
        var fake = new FakeTargetcli(stderr: "g-io-error-quark", exitCode: 1);
        var e = await Assert.ThrowsAsync<TargetException>(() =>
            Client(fake).ConvergeAsync("test", s => TargetPlan.Export(TargetPlanTests.Spec, s), () => VolumeTargetState.Absent, "Secret0123456789", false, default));
        Assert.Contains("g-io-error-quark", e.Message);
        Assert.Single(fake.Runs);
    }

    [Fact]
    public async Task ATargetcliThatCannotStartIsATargetFailure()
    {
        var e = await Assert.ThrowsAsync<TargetException>(() =>
            Client(new MissingProgram()).ConvergeAsync("test", s => TargetPlan.Export(TargetPlanTests.Spec, s), () => VolumeTargetState.Absent, "Secret0123456789", false, default));
        Assert.Contains("targetcli (targetcli) cannot be started", e.Message);
    }

    /// <summary>What Process.Start does when the program is not there.</summary>
    private sealed class MissingProgram : ICommandRunner
    {
        public Task<CommandResult> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken ct) =>
            throw new System.ComponentModel.Win32Exception(2, "No such file or directory");

        public Task<CommandResult> RunWithInputAsync(string program, IReadOnlyList<string> arguments, string standardInput, CancellationToken ct) =>
            throw new System.ComponentModel.Win32Exception(2, "No such file or directory");
    }

    [Fact]
    public void ScrubDropsThePreferencesWarning() =>
        Assert.Equal("No such path /x", TargetClient.Scrub("Warning: Could not load preferences file /root/.targetcli/prefs.bin.\nNo such path /x\n", null));
}

public class ConfigFsReaderTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "bs-configfs-" + Guid.NewGuid());

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private void File(string path, string content)
    {
        var full = Path.Combine(_root, path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        System.IO.File.WriteAllText(full, content + "\n");
    }

    [Fact]
    public void ReadsTheLayoutLioHas()
    {
        const string iqn = "iqn.2010-10.org.openstack:volume-0192d2a4-0000-7000-8000-000000000001";
        File("core/iblock_0/volume-0192d2a4-0000-7000-8000-000000000001/udev_path", "/dev/vg/volume-0192d2a4-0000-7000-8000-000000000001");
        File($"iscsi/{iqn}/tpgt_1/enable", "1");
        File($"iscsi/{iqn}/tpgt_1/attrib/authentication", "1");
        File($"iscsi/{iqn}/tpgt_1/attrib/generate_node_acls", "0");
        Directory.CreateDirectory(Path.Combine(_root, $"iscsi/{iqn}/tpgt_1/np/10.0.2.15:3260"));
        Directory.CreateDirectory(Path.Combine(_root, $"iscsi/{iqn}/tpgt_1/lun/lun_0"));
        File($"iscsi/{iqn}/tpgt_1/acls/iqn.2024-01.com.example:c1/auth/userid", "u1");
        File($"iscsi/{iqn}/tpgt_1/acls/iqn.2024-01.com.example:c1/auth/password", "p1");
        Directory.CreateDirectory(Path.Combine(_root, $"iscsi/{iqn}/tpgt_1/acls/iqn.2024-01.com.example:c1/lun_0"));

        var reader = new ConfigFsTargetReader(_root);
        var s = reader.Read("volume-0192d2a4-0000-7000-8000-000000000001", iqn);
        Assert.Equal("/dev/vg/volume-0192d2a4-0000-7000-8000-000000000001", s.BackstoreDevice);
        Assert.True(s.TargetExists && s.TpgEnabled && s.Lun0Exists);
        Assert.Equal(("1", "0"), (s.Authentication, s.GenerateNodeAcls));
        Assert.Equal(["10.0.2.15:3260"], s.Portals);
        Assert.Equal(new AclState("u1", "p1", true), s.Acls["iqn.2024-01.com.example:c1"]);
        Assert.Equal(["iqn.2024-01.com.example:c1"], Assert.Single(reader.ListTargets()).Initiators);
        Assert.Equal(["volume-0192d2a4-0000-7000-8000-000000000001"], reader.ListBlockBackstores());
        Assert.DoesNotContain("p1", s.Acls["iqn.2024-01.com.example:c1"].ToString());
    }

    [Fact]
    public void NoConfigFsMeansNoLio()
    {
        var reader = new ConfigFsTargetReader(Path.Combine(_root, "missing"));
        Assert.False(reader.IsAvailable);
        Assert.Equal(VolumeTargetState.Absent, reader.Read("volume-x", "iqn.x"));
        Assert.Empty(reader.ListTargets());
    }
}

public class LeakTests
{
    private static VolumeExporter Exporter() => new(
        new TargetClient(new FakeTargetcli(), new ConfigFsTargetReader("/nonexistent"), new IscsiOptions(), NullLogger<TargetClient>.Instance),
        new AgentOptions { VolumeGroup = "vg", HostName = "h1" },
        new TargetCapability(new FakeTargetcli(), new ConfigFsTargetReader("/nonexistent"), new AgentOptions(), NullLogger<TargetCapability>.Instance));

    [Fact]
    public void ReportsTargetsAndAclsNoAttachmentExplains()
    {
        var a = Guid.NewGuid();
        var b = Guid.NewGuid();
        var c = Guid.NewGuid();
        var seen = new List<TargetSummary>
        {
            new($"iqn.2010-10.org.openstack:volume-{a}", ["iqn.2024-01.com.example:ok", "iqn.2024-01.com.example:stale"]),
            new($"iqn.2010-10.org.openstack:volume-{b}", ["iqn.2024-01.com.example:x"]),
            new("iqn.2003-01.org.linux-iscsi.someone-else:sn.1", ["iqn.2024-01.com.example:y"]), // not ours: never touched
        };
        var (leaks, backstores) = Exporter().FindLeaks(seen, [$"volume-{a}", $"volume-{b}", $"volume-{c}", "foreign"],
            [(a, "iqn.2024-01.com.example:ok")]);
        Assert.Contains((a, (string?)"iqn.2024-01.com.example:stale"), leaks);
        Assert.Contains((b, (string?)null), leaks);
        Assert.Equal(2, leaks.Count);
        Assert.Equal([c], backstores);
    }
}
