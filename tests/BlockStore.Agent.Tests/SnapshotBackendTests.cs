using BlockStore.Agent;

namespace BlockStore.Agent.Tests;

/// <summary>
/// Stands in for LVM's snapshot commands (a unit-test fake behind ICommandRunner): LVs with their
/// origin, lvcreate -s, lvconvert --merge, lvextend, lvremove and lvs reports, with LVM's failure
/// messages, and every command line recorded.
/// </summary>
internal sealed class FakeSnapshotLvm : ICommandRunner
{
    public Dictionary<string, (decimal SizeGiB, string Origin)> Lvs { get; } = [];

    public List<IReadOnlyList<string>> Runs { get; } = [];

    public Task<CommandResult> RunAsync(string program, IReadOnlyList<string> args, CancellationToken ct)
    {
        Runs.Add([program, .. args]);
        string Target() => args[^1].Split('/')[1];
        return Task.FromResult(program switch
        {
            "lvcreate" => Create(args),
            "lvconvert" when Lvs.Remove(Target(), out var s) && s.Origin.Length > 0 =>
                Ok(() => Lvs[s.Origin] = (s.SizeGiB, Lvs[s.Origin].Origin)),
            "lvconvert" => new CommandResult(5, "", $"  Failed to find logical volume \"{args[^1]}\""),
            "lvextend" => Ok(() => Lvs[Target()] = (decimal.Parse(args[args.ToList().IndexOf("-L") + 1].TrimEnd('g')), Lvs[Target()].Origin)),
            "lvremove" => Lvs.Remove(Target()) ? Ok(() => { }) : new CommandResult(5, "", $"  Failed to find logical volume \"{args[^1]}\""),
            "lvs" => Report(args),
            _ => new CommandResult(127, "", $"{program}: not faked"),
        });
    }

    private static CommandResult Ok(Action change)
    {
        change();
        return new CommandResult(0, "", "");
    }

    private CommandResult Create(IReadOnlyList<string> a)
    {
        var name = a[a.ToList().IndexOf("-n") + 1];
        var origin = a[^1].Split('/')[1];
        if (Lvs.ContainsKey(name))
        {
            return new CommandResult(5, "", $"  Logical Volume \"{name}\" already exists in volume group \"vg1\"");
        }

        Lvs[name] = (Lvs[origin].SizeGiB, origin);
        return new CommandResult(0, $"  Logical volume \"{name}\" created.", "");
    }

    private CommandResult Report(IReadOnlyList<string> a)
    {
        var select = a.ToList().IndexOf("-S") is var i and >= 0 ? a[i + 1]["lv_name=".Length..] : null;
        var rows = Lvs.Where(lv => select is null || lv.Key == select)
            .Select(lv => $"{{\"lv_name\":\"{lv.Key}\", \"lv_size\":\"{lv.Value.SizeGiB:0.00}\", \"pool_lv\":\"pool0\", \"origin\":\"{lv.Value.Origin}\"}}");
        return new CommandResult(0, $"{{\"report\": [{{\"lv\": [{string.Join(",", rows)}]}}]}}", "");
    }
}

public class SnapshotBackendTests
{
    private static readonly Guid Volume = Guid.Parse("0192d2a4-0000-7000-8000-0000000000a1");
    private static readonly Guid Snapshot = Guid.Parse("0192d2a4-0000-7000-8000-0000000000b2");
    private static readonly string Origin = $"volume-{Volume}";
    private static readonly string SnapLv = $"_snapshot-{Snapshot}";

    private static (VolumeBackend, FakeSnapshotLvm) Thin()
    {
        var lvm = new FakeSnapshotLvm();
        lvm.Lvs[Origin] = (4, "");
        return (new VolumeBackend(new LvmClient(lvm, activation: true), new AgentOptions { VolumeGroup = "vg1", BackendType = "thin", ThinPool = "pool0" }), lvm);
    }

    [Fact]
    public async Task A_thin_snapshot_has_no_size_and_the_activation_skip_flag_and_is_named_by_its_id()
    {
        var (backend, lvm) = Thin();
        await backend.EnsureSnapshotCreatedAsync(Volume, Snapshot, 4, default);
        Assert.Equal(["lvcreate", "-s", "-n", SnapLv, "--setactivationskip", "y", $"vg1/{Origin}"], lvm.Runs.Single());
        Assert.Equal(Origin, lvm.Lvs[SnapLv].Origin);
    }

    [Fact]
    public async Task A_thick_snapshot_is_a_COW_area_as_large_as_its_origin()
    {
        var lvm = new FakeSnapshotLvm();
        lvm.Lvs[Origin] = (4, "");
        var backend = new VolumeBackend(new LvmClient(lvm, activation: true), new AgentOptions { VolumeGroup = "vg1" });
        await backend.EnsureSnapshotCreatedAsync(Volume, Snapshot, 4, default);
        Assert.Equal(["lvcreate", "-s", "-n", SnapLv, "-L", "4g", $"vg1/{Origin}"], lvm.Runs.Single());
    }

    [Fact]
    public async Task A_retry_after_a_crash_adopts_the_snapshot_of_the_same_origin_and_refuses_another()
    {
        var (backend, lvm) = Thin();
        await backend.EnsureSnapshotCreatedAsync(Volume, Snapshot, 4, default);
        Assert.StartsWith("adopted", await backend.EnsureSnapshotCreatedAsync(Volume, Snapshot, 4, default));

        lvm.Lvs[SnapLv] = (4, "volume-someone-else");
        var e = await Assert.ThrowsAsync<LvmException>(() => backend.EnsureSnapshotCreatedAsync(Volume, Snapshot, 4, default));
        Assert.Contains("not a snapshot of", e.Message);
    }

    [Fact]
    public async Task A_volume_from_a_snapshot_is_activated_like_a_volume_and_grown_when_larger_once_even_after_a_crash()
    {
        var (backend, lvm) = Thin();
        await backend.EnsureSnapshotCreatedAsync(Volume, Snapshot, 4, default);
        var copy = Guid.NewGuid();
        var note = await backend.EnsureCreatedFromAsync(copy, SnapLv, 6, default);
        Assert.Contains(lvm.Runs, r => r.SequenceEqual(["lvcreate", "-s", "-n", $"volume-{copy}", "--setactivationskip", "n", $"vg1/{SnapLv}"]));
        Assert.Contains("lvextend to 6 GiB", note);
        Assert.Equal(6, lvm.Lvs[$"volume-{copy}"].SizeGiB);

        var runs = lvm.Runs.Count;
        Assert.StartsWith("adopted", await backend.EnsureCreatedFromAsync(copy, SnapLv, 6, default));
        Assert.DoesNotContain(lvm.Runs.Skip(runs), r => r[0] == "lvextend");
    }

    [Fact]
    public async Task A_revert_merges_the_snapshot_takes_it_again_and_finishes_after_a_crash_between_the_two()
    {
        var (backend, lvm) = Thin();
        await backend.EnsureSnapshotCreatedAsync(Volume, Snapshot, 4, default);
        lvm.Lvs[Origin] = (6, ""); // extended after the snapshot

        var note = await backend.EnsureRevertedAsync(Volume, Snapshot, 6, default);
        Assert.Contains(lvm.Runs, r => r.SequenceEqual(["lvconvert", "--merge", "-y", $"vg1/{SnapLv}"]));
        Assert.Contains("lvextend to 6 GiB", note);
        Assert.Equal(6, lvm.Lvs[Origin].SizeGiB);
        Assert.Equal(Origin, lvm.Lvs[SnapLv].Origin); // the snapshot is there again

        // A crash after the merge, before the snapshot was taken again: the retry does the rest.
        lvm.Lvs.Remove(SnapLv);
        var retry = await backend.EnsureRevertedAsync(Volume, Snapshot, 6, default);
        Assert.Contains("already merged", retry);
        Assert.True(lvm.Lvs.ContainsKey(SnapLv));
    }
}
