using BlockStore.Agent;

namespace BlockStore.Agent.Tests;

/// <summary>
/// LVM (FakeLvm) plus what a block copy needs (a unit-test fake behind ICommandRunner): lvchange -ay
/// of an LV that exists, and dd that copies an LV's "bytes" (a string per LV) into another, or fails.
/// </summary>
internal sealed class FakeCopyHost(string deviceDirectory) : ICommandRunner
{
    public FakeLvm Lvm { get; } = new();

    /// <summary>What each LV holds, keyed by LV name.</summary>
    public Dictionary<string, string> Bytes { get; } = [];

    public HashSet<string> Active { get; } = [];

    public List<(string Program, IReadOnlyList<string> Args)> Runs { get; } = [];

    public string? FailCopyWith { get; set; }

    public Task<CommandResult> RunAsync(string program, IReadOnlyList<string> args, CancellationToken ct)
    {
        Runs.Add((program, args));
        switch (program)
        {
            case "lvchange":
                var name = args[^1].Split('/')[1];
                if (!Lvm.Lvs.ContainsKey(name))
                {
                    return Task.FromResult(new CommandResult(5, "", $"  Failed to find logical volume \"{args[^1]}\""));
                }

                Active.Add(name);
                return Task.FromResult(new CommandResult(0, "", ""));
            case "dd":
                if (FailCopyWith is { } error)
                {
                    return Task.FromResult(new CommandResult(1, "", error));
                }

                var from = Lv(args.Single(a => a.StartsWith("if=", StringComparison.Ordinal)));
                var to = Lv(args.Single(a => a.StartsWith("of=", StringComparison.Ordinal)));
                if (!Active.Contains(from) || !Active.Contains(to))
                {
                    return Task.FromResult(new CommandResult(1, "", "dd: failed to open: No such file or directory"));
                }

                Bytes[to] = Bytes.GetValueOrDefault(from, "");
                return Task.FromResult(new CommandResult(0, "", ""));
            default:
                return Lvm.RunAsync(program, args, ct);
        }
    }

    private string Lv(string arg) => Path.GetRelativePath(Path.Combine(deviceDirectory, "vg1"), arg[3..]);
}

public sealed class BlockCopyTests : IDisposable
{
    private static readonly Guid Id = Guid.Parse("0192d2a4-0000-7000-8000-0000000000c3");
    private static readonly string Name = $"volume-{Id}";
    private const string Source = "_snapshot-0192d2a4-0000-7000-8000-0000000000b2";
    private readonly string _dev = Directory.CreateTempSubdirectory("bs-dev-").FullName;

    public void Dispose() => Directory.Delete(_dev, recursive: true);

    private (VolumeBackend Backend, FakeCopyHost Host) ThickHost(bool deviceMapper = true, bool activation = true)
    {
        if (deviceMapper)
        {
            Directory.CreateDirectory(Path.Combine(_dev, "mapper"));
            File.WriteAllText(Path.Combine(_dev, "mapper", "control"), "");
        }

        var host = new FakeCopyHost(_dev);
        host.Lvm.Lvs[Source] = (2, null);
        host.Bytes[Source] = "pattern A";
        var options = new AgentOptions { VolumeGroup = "vg1", LvmActivation = activation };
        return (new VolumeBackend(new LvmClient(host, activation), options, new BlockCopier(host, _dev)), host);
    }

    [Fact]
    public async Task A_thick_volume_from_a_snapshot_is_a_new_lv_of_the_full_size_and_a_direct_io_copy_of_the_source()
    {
        var (backend, host) = ThickHost();
        var note = await backend.EnsureCreatedFromAsync(Id, Source, 3, default);

        Assert.Equal(["lvchange", "lvcreate", "lvchange", "dd"], host.Runs.Select(r => r.Program));
        Assert.Equal(["-ay", "-K", "-y", $"vg1/{Source}"], host.Runs[0].Args);
        Assert.Equal(["-n", Name, "-L", "3g", "-y", "vg1"], host.Runs[1].Args);
        Assert.Equal(["-ay", "-K", "-y", $"vg1/{Name}"], host.Runs[2].Args);
        Assert.Equal([$"if={_dev}/vg1/{Source}", $"of={_dev}/vg1/{Name}", "bs=4M", "iflag=direct", "oflag=direct", "conv=fsync", "status=none"], host.Runs[3].Args);
        Assert.Equal(3, host.Lvm.Lvs[Name].SizeGiB);
        Assert.Equal("pattern A", host.Bytes[Name]);
        Assert.Contains("block copy", note);
    }

    [Fact]
    public async Task Lvs_whose_device_nodes_exist_are_not_activated_again()
    {
        var (backend, host) = ThickHost();
        Directory.CreateDirectory(Path.Combine(_dev, "vg1"));
        File.WriteAllText(Path.Combine(_dev, "vg1", Source), "");
        File.WriteAllText(Path.Combine(_dev, "vg1", Name), "");
        host.Active.UnionWith([Source, Name]);

        await backend.EnsureCreatedFromAsync(Id, Source, 2, default);

        Assert.Equal(["lvcreate", "dd"], host.Runs.Select(r => r.Program));
        Assert.Equal("pattern A", host.Bytes[Name]);
    }

    [Fact]
    public async Task A_retry_after_a_crash_adopts_the_lv_and_copies_again_from_the_start()
    {
        var (backend, host) = ThickHost();
        // The crashed attempt made the LV and copied part of the source.
        host.Lvm.Lvs[Name] = (3, null);
        host.Bytes[Name] = "patt";

        var note = await backend.EnsureCreatedFromAsync(Id, Source, 3, default);

        Assert.StartsWith("adopted existing LV", note);
        Assert.Equal(2, host.Lvm.Lvs.Count);
        Assert.Equal("pattern A", host.Bytes[Name]);
        Assert.Single(host.Runs, r => r.Program == "dd");
    }

    [Fact]
    public async Task A_failed_copy_is_an_lvm_failure_with_dds_message()
    {
        var (backend, host) = ThickHost();
        host.FailCopyWith = "dd: error writing: Input/output error";
        var e = await Assert.ThrowsAsync<LvmException>(() => backend.EnsureCreatedFromAsync(Id, Source, 2, default));
        Assert.Contains("Input/output error", e.Message);
        Assert.Contains("block copy", e.Message);
    }

    [Fact]
    public async Task A_missing_source_fails_before_any_lv_is_made()
    {
        var (backend, host) = ThickHost();
        host.Lvm.Lvs.Remove(Source);
        await Assert.ThrowsAsync<LvmException>(() => backend.EnsureCreatedFromAsync(Id, Source, 2, default));
        Assert.Equal(["lvchange"], host.Runs.Select(r => r.Program));
        Assert.False(host.Lvm.Lvs.ContainsKey(Name));
    }

    [Fact]
    public async Task Without_device_mapper_nothing_runs_and_the_reason_says_why()
    {
        var (backend, host) = ThickHost(deviceMapper: false);
        var support = backend.BlockCopySupport();
        Assert.False(support.Supported);
        Assert.Contains("no device-mapper", support.Reason);
        Assert.Contains(Path.Combine(_dev, "mapper", "control"), support.Reason);
        var e = await Assert.ThrowsAsync<LvmException>(() => backend.EnsureCreatedFromAsync(Id, Source, 2, default));
        Assert.Contains("no device-mapper", e.Message);
        Assert.Empty(host.Runs);
    }

    [Fact]
    public void Block_copy_needs_lvm_activation_and_the_device_mapper_control_node()
    {
        var (off, _) = ThickHost(activation: false);
        Assert.Equal((false, "it has no device-mapper (LVM runs with activation off), so its LVs have no device nodes"), off.BlockCopySupport());
        var (on, _) = ThickHost();
        Assert.Equal((true, (string?)null), on.BlockCopySupport());
        Assert.False(new VolumeBackend(new LvmClient(new FakeLvm(), true), new AgentOptions { VolumeGroup = "vg1" }).BlockCopySupport().Supported);
    }
}
