using System.Text;

namespace BlockStore.Core;

/// <summary>
/// One scheduler's own order among volume hosts that are (nearly) equally free. Two schedulers
/// weighing the same hosts the same way plan onto the same most-free hosts, so one finds their
/// ledger rows locked by the other and plans again (or defers); with a spread each breaks ties
/// by a hash of the host name seeded by its own name, so they mostly choose different hosts.
/// <para>
/// Rank: the host's free space rounded down to its band, <see cref="BandPercent"/> of its
/// capacity (thick: the VG; thin: the over-subscribed capacity). Hosts in the same band are
/// equally good; a host freer by more than the band always wins, as without a spread. Within a
/// band a scheduler keeps to its first host until that host drops to the next band, so a batch
/// locks fewer hosts too, but two hosts can end as far apart as the band (plus a volume), where
/// Cinder's weigher keeps them within one volume. Band 0 (the default): only exact ties are
/// spread, and the weigher is otherwise Cinder's. Deterministic for a seed (no randomness, and
/// the same in every process: not string.GetHashCode).
/// </para>
/// </summary>
public sealed record PlacementSpread(ulong Seed, decimal BandPercent = 0m)
{
    /// <summary>The spread of a scheduler, seeded by its name (stable across restarts and machines).</summary>
    public static PlacementSpread For(string schedulerName, decimal bandPercent = 0m) =>
        new(Fnv1a(schedulerName, 0), bandPercent < 0 ? 0 : bandPercent);

    /// <summary>The host's free space as the weigher ranks it: rounded down to the host's band.</summary>
    public decimal Rank(HostCandidate host, decimal freeGiB)
    {
        var capacity = host.BackendType == BackendType.Thin ? host.TotalGiB * host.MaxOverSubscriptionRatio : host.TotalGiB;
        var band = capacity * BandPercent / 100m;
        return band <= 0 ? freeGiB : Math.Floor(freeGiB / band) * band;
    }

    /// <summary>The tie-break among hosts of the same rank: lower first.</summary>
    public ulong Tie(string host) => Mix(Fnv1a(host, Seed));

    // FNV-1a over the UTF-8 bytes, started from the seed. The bytes go to the stack for a name of
    // ordinary length: a placement hashes every host's name, and 1,000 small arrays per plan were
    // garbage for nothing.
    private static ulong Fnv1a(string text, ulong seed)
    {
        var hash = 14695981039346656037UL ^ seed;
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        Span<byte> bytes = max <= 256 ? stackalloc byte[256] : new byte[max];
        foreach (var b in bytes[..Encoding.UTF8.GetBytes(text, bytes)])
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }

    // SplitMix64's finalizer: FNV alone orders names that differ in the last character nearly as
    // the names do, whatever the seed; mixed, each seed gives its own order.
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
