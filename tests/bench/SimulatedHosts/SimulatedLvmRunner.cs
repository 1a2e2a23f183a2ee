using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using BlockStore.Agent;

namespace BlockStore.Bench;

/// <summary>
/// A SIMULATION of LVM for the load benchmark only: behind the agent's ICommandRunner, it runs no
/// program; it records each command line and answers lvcreate/lvremove/lvs/vgs from an in-memory
/// volume group, in LVM's JSON report format, so the agent's LvmClient, VolumeBackend and
/// CapacityReporter run unchanged. Never used by the lab or an integration test.
/// </summary>
public sealed class SimulatedLvmRunner(string volumeGroup, decimal sizeGiB) : ICommandRunner
{
    private readonly ConcurrentDictionary<string, decimal> _lvs = new(StringComparer.Ordinal);
    private long _commands;

    /// <summary>How many LVM commands the agent code asked for.</summary>
    public long Commands => Interlocked.Read(ref _commands);

    /// <summary>The last command line, for the report.</summary>
    public string? LastCommand { get; private set; }

    public Task<CommandResult> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken ct)
    {
        Interlocked.Increment(ref _commands);
        LastCommand = program + " " + string.Join(' ', arguments);
        return Task.FromResult(program switch
        {
            "lvcreate" => Create(arguments),
            "lvremove" => Remove(arguments),
            "lvs" => Report(arguments),
            "vgs" => Ok(Json("vg", [VgRow()])),
            _ => new CommandResult(127, "", $"{program}: not simulated"),
        });
    }

    private CommandResult Create(IReadOnlyList<string> a)
    {
        var name = a[IndexOf(a, "-n") + 1];
        var size = decimal.Parse(a[IndexOf(a, "-L") + 1].TrimEnd('g'), CultureInfo.InvariantCulture);
        return _lvs.TryAdd(name, size)
            ? Ok("")
            : new CommandResult(5, "", $"Logical Volume \"{name}\" already exists in volume group \"{volumeGroup}\"");
    }

    private CommandResult Remove(IReadOnlyList<string> a)
    {
        var name = a[^1].Split('/')[^1];
        return _lvs.TryRemove(name, out _) ? Ok("") : new CommandResult(5, "", $"Failed to find logical volume \"{volumeGroup}/{name}\"");
    }

    private CommandResult Report(IReadOnlyList<string> a)
    {
        var select = IndexOf(a, "-S");
        var only = select >= 0 ? a[select + 1]["lv_name=".Length..] : null;
        var rows = _lvs.Where(lv => only is null || lv.Key == only)
            .Select(lv => new Dictionary<string, string>(VgRow())
            {
                ["lv_name"] = lv.Key,
                ["lv_size"] = lv.Value.ToString("0.00", CultureInfo.InvariantCulture),
                ["pool_lv"] = "",
            }).ToList();
        return Ok(Json("lv", rows));
    }

    private Dictionary<string, string> VgRow() => new()
    {
        ["vg_name"] = volumeGroup,
        ["vg_size"] = sizeGiB.ToString("0.00", CultureInfo.InvariantCulture),
        ["vg_free"] = (sizeGiB - _lvs.Values.Sum()).ToString("0.00", CultureInfo.InvariantCulture),
    };

    private static int IndexOf(IReadOnlyList<string> a, string flag)
    {
        for (var i = 0; i < a.Count; i++)
        {
            if (a[i] == flag)
            {
                return i;
            }
        }

        return -1;
    }

    private static string Json(string kind, IEnumerable<Dictionary<string, string>> rows) =>
        JsonSerializer.Serialize(new Dictionary<string, object> { ["report"] = new[] { new Dictionary<string, object> { [kind] = rows } } });

    private static CommandResult Ok(string stdout) => new(0, stdout, "");
}
