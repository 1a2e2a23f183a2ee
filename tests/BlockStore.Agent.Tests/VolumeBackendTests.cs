using BlockStore.Agent;

namespace BlockStore.Agent.Tests;

/// <summary>
/// Stands in for LVM: keeps a set of LVs, answers lvcreate/lvremove/lvs like LVM 2.03 does (JSON
/// reports, exit 5 with LVM's messages on failure) and records every command line.
/// </summary>
internal sealed class FakeLvm : ICommandRunner
{
    public Dictionary<string, (decimal SizeGiB, string? Pool)> Lvs { get; } = [];

    public List<(string Program, IReadOnlyList<string> Args)> Runs { get; } = [];

    /// <summary>Makes the next lvcreate fail after creating the LV (as a crash would look to a retry).</summary>
    public string? FailNextCreateWith { get; set; }

    /// <summary>Runs before each lvs report, with its number (1, 2, ...): lets a test change LVM between reads.</summary>
    public Action<int>? BeforeReport { get; set; }

    private int _reports;

    public Task<CommandResult> RunAsync(string program, IReadOnlyList<string> args, CancellationToken ct)
    {
        Runs.Add((program, args));
        if (program == "lvs")
        {
            BeforeReport?.Invoke(++_reports);
        }

        var rest = args.Count > 1 && args[0] == "--config" ? args.Skip(2).ToList() : args.ToList();
        return Task.FromResult(program switch
        {
            "lvcreate" => Create(rest),
            "lvremove" => Remove(rest[^1]),
            "lvs" => Report(rest),
            _ => new CommandResult(127, "", $"{program}: not faked"),
        });
    }

    private CommandResult Create(List<string> a)
    {
        var name = a[a.IndexOf("-n") + 1];
        var thin = a.Contains("-T");
        var size = decimal.Parse(a[a.IndexOf(thin ? "-V" : "-L") + 1].TrimEnd('g'), System.Globalization.CultureInfo.InvariantCulture);
        if (FailNextCreateWith is { } error)
        {
            FailNextCreateWith = null;
            return new CommandResult(5, "", error);
        }

        if (Lvs.ContainsKey(name))
        {
            return new CommandResult(5, "", $"  Logical Volume \"{name}\" already exists in volume group \"vg1\"");
        }

        Lvs[name] = (size, thin ? a[a.IndexOf("-T") + 1].Split('/')[1] : null);
        return new CommandResult(0, $"  Logical volume \"{name}\" created.", "");
    }

    private CommandResult Remove(string vgAndName)
    {
        var name = vgAndName.Split('/')[1];
        return Lvs.Remove(name)
            ? new CommandResult(0, $"  Logical volume \"{name}\" successfully removed.", "")
            : new CommandResult(5, "", $"  Failed to find logical volume \"{vgAndName}\"");
    }

    private CommandResult Report(List<string> a)
    {
        var select = a.IndexOf("-S") is var i and >= 0 ? a[i + 1]["lv_name=".Length..] : null;
        var rows = Lvs.Where(lv => select is null || lv.Key == select)
            .Select(lv => $"{{\"lv_name\":\"{lv.Key}\", \"lv_size\":\"{lv.Value.SizeGiB:0.00}\", \"pool_lv\":\"{lv.Value.Pool}\"}}");
        return new CommandResult(0, $"{{\"report\": [{{\"lv\": [{string.Join(",", rows)}]}}]}}", "");
    }
}

public class VolumeBackendTests
{
    private static readonly Guid Id = Guid.Parse("0192d2a4-0000-7000-8000-000000000001");
    private const string Name = "volume-0192d2a4-0000-7000-8000-000000000001";
    private const string Config = "global { activation = 0 } devices { use_devicesfile = 0 }";

    private static (VolumeBackend Backend, FakeLvm Lvm) Thick()
    {
        var lvm = new FakeLvm();
        return (new VolumeBackend(new LvmClient(lvm, activation: false), new AgentOptions { VolumeGroup = "vg1" }), lvm);
    }

    private static (VolumeBackend Backend, FakeLvm Lvm) Thin()
    {
        var lvm = new FakeLvm();
        var options = new AgentOptions { VolumeGroup = "vg1", BackendType = "thin", ThinPool = "pool0" };
        return (new VolumeBackend(new LvmClient(lvm, activation: true), options), lvm);
    }

    [Fact]
    public void LvNamesDeriveFromTheVolumeIdOnly() => Assert.Equal(Name, BlockStore.Core.StorageNames.Volume(Id));

    [Fact]
    public async Task ThickCreateIsOneLvcreateWithTheAgentsConfig()
    {
        var (backend, lvm) = Thick();
        var note = await backend.EnsureCreatedAsync(Id, 3, default);
        var run = Assert.Single(lvm.Runs);
        Assert.Equal("lvcreate", run.Program);
        Assert.Equal(["--config", Config, "-n", Name, "-L", "3g", "-y", "vg1"], run.Args);
        Assert.StartsWith("lvcreate vg1/" + Name, note);
    }

    [Fact]
    public async Task ThinCreateGoesIntoThePool()
    {
        var (backend, lvm) = Thin();
        await backend.EnsureCreatedAsync(Id, 5, default);
        Assert.Equal(["-T", "vg1/pool0", "-V", "5g", "-n", Name, "-y"], Assert.Single(lvm.Runs).Args);
        Assert.Equal("pool0", lvm.Lvs[Name].Pool);
    }

    [Fact]
    public async Task ARetriedCreateAdoptsTheLvAnEarlierAttemptMade()
    {
        var (backend, lvm) = Thick();
        lvm.Lvs[Name] = (3, null);
        var note = await backend.EnsureCreatedAsync(Id, 3, default);
        Assert.StartsWith("adopted existing LV vg1/" + Name, note);
        Assert.Equal(["lvcreate", "lvs"], lvm.Runs.Select(r => r.Program));
    }

    [Fact]
    public async Task AnLvOfAnotherSizeIsNeverAdopted()
    {
        var (backend, lvm) = Thick();
        lvm.Lvs[Name] = (4, null);
        var e = await Assert.ThrowsAsync<LvmException>(() => backend.EnsureCreatedAsync(Id, 3, default));
        Assert.Contains("exists with 4", e.Message);
        Assert.Equal((4m, (string?)null), lvm.Lvs[Name]);
    }

    [Fact]
    public async Task AThinRetryDoesNotAdoptAnLvOutsideThePool()
    {
        var (backend, lvm) = Thin();
        lvm.Lvs[Name] = (5, null);
        var e = await Assert.ThrowsAsync<LvmException>(() => backend.EnsureCreatedAsync(Id, 5, default));
        Assert.Contains("outside thin pool pool0", e.Message);
    }

    [Fact]
    public async Task AFailedCreateReportsLvmsOwnMessage()
    {
        var (backend, lvm) = Thick();
        lvm.FailNextCreateWith = "  Volume group \"vg1\" has insufficient free space (0 extents): 768 required.";
        var e = await Assert.ThrowsAsync<LvmException>(() => backend.EnsureCreatedAsync(Id, 3, default));
        Assert.Equal("lvcreate failed (exit 5): Volume group \"vg1\" has insufficient free space (0 extents): 768 required.", e.Message);
        Assert.Empty(lvm.Lvs);
    }

    [Fact]
    public async Task DeleteIsOneLvremove()
    {
        var (backend, lvm) = Thick();
        lvm.Lvs[Name] = (3, null);
        Assert.Equal("lvremove vg1/" + Name, await backend.EnsureDeletedAsync(Id, default));
        Assert.Equal(["--config", Config, "-f", "vg1/" + Name], Assert.Single(lvm.Runs).Args);
        Assert.Empty(lvm.Lvs);
    }

    [Fact]
    public async Task DeletingAnAbsentLvSucceeds()
    {
        var (backend, lvm) = Thick();
        Assert.Equal($"LV vg1/{Name} already absent", await backend.EnsureDeletedAsync(Id, default));
        Assert.Equal(["lvremove", "lvs"], lvm.Runs.Select(r => r.Program));
    }

    [Fact]
    public async Task ADeleteThatFailsWhileTheLvExistsIsAnError()
    {
        var lvm = new StuckLvm();
        var backend = new VolumeBackend(new LvmClient(lvm, activation: false), new AgentOptions { VolumeGroup = "vg1" });
        var e = await Assert.ThrowsAsync<LvmException>(() => backend.EnsureDeletedAsync(Id, default));
        Assert.Contains("in use", e.Message);
    }

    /// <summary>An LV that exists and cannot be removed (open, in use).</summary>
    private sealed class StuckLvm : ICommandRunner
    {
        public Task<CommandResult> RunAsync(string program, IReadOnlyList<string> args, CancellationToken ct) =>
            Task.FromResult(program == "lvremove"
                ? new CommandResult(5, "", "  Logical volume vg1/" + Name + " in use.")
                : new CommandResult(0, $"{{\"report\": [{{\"lv\": [{{\"lv_name\":\"{Name}\", \"lv_size\":\"3.00\", \"pool_lv\":\"\"}}]}}]}}", ""));
    }
}
