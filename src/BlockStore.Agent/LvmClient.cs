using System.Globalization;
using System.Text.Json;

namespace BlockStore.Agent;

/// <summary>A logical volume as LVM reports it.</summary>
public sealed record LogicalVolume(string Name, decimal SizeGiB, string? Pool);

/// <summary>A volume group as LVM reports it.</summary>
public sealed record VolumeGroupInfo(string Name, decimal SizeGiB, decimal FreeGiB);

/// <summary>An LVM command failed; the message is LVM's own.</summary>
public sealed class LvmException(string message) : Exception(message);

/// <summary>
/// The LVM commands the agent needs (Cinder's brick/local_dev/lvm.py and TopoLVM's lvmd do the
/// same), run with argument lists and read through LVM's JSON reports, never column text.
/// </summary>
public sealed class LvmClient(ICommandRunner runner, bool activation, string? binDirectory = null)
{
    private IEnumerable<string> Config()
    {
        // Without device-mapper only metadata operations work; say so to every command.
        if (!activation)
        {
            yield return "--config";
            yield return "global { activation = 0 } devices { use_devicesfile = 0 }";
        }
    }

    public async Task<VolumeGroupInfo?> GetVolumeGroupAsync(string vg, CancellationToken ct)
    {
        var result = await RunAsync("vgs", [.. Config(), "--reportformat", "json", "--units", "g", "--nosuffix", "-o", "vg_name,vg_size,vg_free", vg], ct, throwOnError: false);
        if (!result.Succeeded)
        {
            return null; // missing VG: the caller reports the host unhealthy
        }

        var row = Rows(result.StdOut, "vg").FirstOrDefault();
        return row is null ? null : new VolumeGroupInfo(row["vg_name"], Num(row["vg_size"]), Num(row["vg_free"]));
    }

    public async Task<IReadOnlyList<LogicalVolume>> ListAsync(string vg, CancellationToken ct)
    {
        var result = await RunAsync("lvs", [.. Config(), "--reportformat", "json", "--units", "g", "--nosuffix", "-o", "lv_name,lv_size,pool_lv", vg], ct);
        return Rows(result.StdOut, "lv")
            .Select(r => new LogicalVolume(r["lv_name"], Num(r["lv_size"]), string.IsNullOrEmpty(r.GetValueOrDefault("pool_lv")) ? null : r["pool_lv"]))
            .ToList();
    }

    /// <summary>
    /// The VG's size and free space with its LVs, from one lvs run (a single metadata snapshot: an LV
    /// created or removed meanwhile is either in all three or in none). Null when the VG has no LVs
    /// or lvs fails (a missing VG): ask <see cref="GetVolumeGroupAsync"/> then.
    /// </summary>
    public async Task<(VolumeGroupInfo Vg, IReadOnlyList<LogicalVolume> Lvs)?> GetUsageAsync(string vg, CancellationToken ct)
    {
        var result = await RunAsync("lvs", [.. Config(), "--reportformat", "json", "--units", "g", "--nosuffix", "-o", "vg_name,vg_size,vg_free,lv_name,lv_size,pool_lv", vg], ct, throwOnError: false);
        var rows = result.Succeeded ? Rows(result.StdOut, "lv") : [];
        if (rows.Count == 0)
        {
            return null;
        }

        var first = rows[0];
        return (new VolumeGroupInfo(first["vg_name"], Num(first["vg_size"]), Num(first["vg_free"])),
            rows.Select(r => new LogicalVolume(r["lv_name"], Num(r["lv_size"]), string.IsNullOrEmpty(r.GetValueOrDefault("pool_lv")) ? null : r["pool_lv"])).ToList());
    }

    /// <summary>
    /// One LV by name, or null when the VG has no such LV. A selection (-S) rather than vg/lv keeps
    /// "no such LV" (exit 0, no rows) apart from real failures such as a missing VG (an exception).
    /// </summary>
    public async Task<LogicalVolume?> FindAsync(string vg, string name, CancellationToken ct)
    {
        var result = await RunAsync("lvs", [.. Config(), "--reportformat", "json", "--units", "g", "--nosuffix", "-o", "lv_name,lv_size,pool_lv", "-S", $"lv_name={name}", vg], ct);
        return Rows(result.StdOut, "lv")
            .Where(r => r["lv_name"] == name)
            .Select(r => new LogicalVolume(r["lv_name"], Num(r["lv_size"]), string.IsNullOrEmpty(r.GetValueOrDefault("pool_lv")) ? null : r["pool_lv"]))
            .FirstOrDefault();
    }

    /// <summary>Thin pool size and the percentage of it in use.</summary>
    public async Task<(decimal SizeGiB, decimal DataPercent)?> GetThinPoolAsync(string vg, string pool, CancellationToken ct)
    {
        var result = await RunAsync("lvs", [.. Config(), "--reportformat", "json", "--units", "g", "--nosuffix", "-o", "lv_name,lv_size,data_percent", $"{vg}/{pool}"], ct, throwOnError: false);
        var row = result.Succeeded ? Rows(result.StdOut, "lv").FirstOrDefault() : null;
        return row is null ? null : (Num(row["lv_size"]), Num(row.GetValueOrDefault("data_percent") ?? "0"));
    }

    public Task CreateThickAsync(string vg, string name, int sizeGiB, CancellationToken ct) =>
        RunAsync("lvcreate", [.. Config(), "-n", name, "-L", $"{sizeGiB}g", "-y", vg], ct);

    public Task CreateThinAsync(string vg, string pool, string name, int sizeGiB, CancellationToken ct) =>
        RunAsync("lvcreate", [.. Config(), "-T", $"{vg}/{pool}", "-V", $"{sizeGiB}g", "-n", name, "-y"], ct);

    public Task RemoveAsync(string vg, string name, CancellationToken ct) =>
        RunAsync("lvremove", [.. Config(), "-f", $"{vg}/{name}"], ct);

    /// <summary>
    /// A thin snapshot (Cinder's and TopoLVM's way): no size, in the origin's pool, with the
    /// activation-skip flag set (-ky) so it stays inactive until someone needs its data.
    /// </summary>
    public Task CreateThinSnapshotAsync(string vg, string origin, string name, CancellationToken ct, bool activationSkip = true) =>
        RunAsync("lvcreate", [.. Config(), "-s", "-n", name, "--setactivationskip", activationSkip ? "y" : "n", $"{vg}/{origin}"], ct);

    /// <summary>A thick (COW) snapshot whose area is as large as the origin, so it can never overflow and be invalidated.</summary>
    public Task CreateThickSnapshotAsync(string vg, string origin, string name, int sizeGiB, CancellationToken ct) =>
        RunAsync("lvcreate", [.. Config(), "-s", "-n", name, "-L", $"{sizeGiB}g", $"{vg}/{origin}"], ct);

    /// <summary>The origin LV of a snapshot LV (empty when it is none), for adopting one a crashed attempt made.</summary>
    public async Task<string?> FindOriginAsync(string vg, string name, CancellationToken ct)
    {
        var result = await RunAsync("lvs", [.. Config(), "--reportformat", "json", "-o", "lv_name,origin", "-S", $"lv_name={name}", vg], ct);
        return Rows(result.StdOut, "lv").Where(r => r["lv_name"] == name).Select(r => r.GetValueOrDefault("origin") ?? "").FirstOrDefault();
    }

    /// <summary>Merges a snapshot back into its origin (lvconvert --merge): the origin gets the snapshot's data and the snapshot LV is gone.</summary>
    public Task MergeAsync(string vg, string snapshot, CancellationToken ct) =>
        RunAsync("lvconvert", [.. Config(), "--merge", "-y", $"{vg}/{snapshot}"], ct);

    /// <summary>
    /// Activates an LV (lvchange -ay), so that its device node exists; -K also activates one with the
    /// activation-skip flag, and -y answers LVM's question for a COW snapshot ("will also change its
    /// origin": the origin is activated with it, which a thick volume already is). Already active is success.
    /// </summary>
    public Task ActivateAsync(string vg, string name, CancellationToken ct) =>
        RunAsync("lvchange", [.. Config(), "-ay", "-K", "-y", $"{vg}/{name}"], ct);

    /// <summary>Grows an LV to <paramref name="sizeGiB"/> (lvextend -L, as Cinder's extend_volume; no filesystem resize).</summary>
    public Task ExtendAsync(string vg, string name, int sizeGiB, CancellationToken ct) =>
        RunAsync("lvextend", [.. Config(), "-L", $"{sizeGiB}g", $"{vg}/{name}"], ct);

    private async Task<CommandResult> RunAsync(string program, IReadOnlyList<string> args, CancellationToken ct, bool throwOnError = true)
    {
        // By name through PATH, or from Agent:LvmBinDirectory when the host keeps LVM elsewhere.
        var result = await runner.RunAsync(string.IsNullOrEmpty(binDirectory) ? program : Path.Combine(binDirectory, program), args, ct);
        if (throwOnError && !result.Succeeded)
        {
            throw new LvmException($"{program} failed (exit {result.ExitCode}): {Clean(result.StdErr)}");
        }

        return result;
    }

    /// <summary>LVM's message without the activation-off warning we asked for ourselves.</summary>
    public static string Clean(string stderr) =>
        string.Join(" ", stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.StartsWith("WARNING: Activation disabled", StringComparison.Ordinal)
                        && !l.StartsWith("WARNING: Skipping zeroing", StringComparison.Ordinal)
                        && !l.Contains("not zeroed", StringComparison.Ordinal)
                        && !l.Contains("leaked on", StringComparison.Ordinal)));

    /// <summary>Reads {"report":[{"lv":[{...}]}]} into rows of strings.</summary>
    public static IReadOnlyList<Dictionary<string, string>> Rows(string json, string kind)
    {
        using var doc = JsonDocument.Parse(json);
        var rows = new List<Dictionary<string, string>>();
        foreach (var report in doc.RootElement.GetProperty("report").EnumerateArray())
        {
            if (!report.TryGetProperty(kind, out var items))
            {
                continue;
            }

            foreach (var item in items.EnumerateArray())
            {
                rows.Add(item.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? ""));
            }
        }

        return rows;
    }

    private static decimal Num(string s) =>
        string.IsNullOrWhiteSpace(s) ? 0m : decimal.Parse(s.TrimStart('<', '>'), NumberStyles.Number, CultureInfo.InvariantCulture);
}
