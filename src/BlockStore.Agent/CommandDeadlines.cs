namespace BlockStore.Agent;

/// <summary>
/// How long one external command may run (issue 17): an lvcreate waiting on a volume group lock
/// someone else holds, or a hung targetcli, must not hold its operation forever while the lease
/// keeps being renewed. Bound from Agent:Deadlines; a deadline is an attempt failure.
/// </summary>
public sealed class CommandDeadlines
{
    /// <summary>lvcreate, lvremove, lvs, vgs and the rest of LVM (a metadata commit takes well under a second here).</summary>
    public double LvmSeconds { get; set; } = 120;

    /// <summary>targetcli (its Python start alone takes a second or two on a slow guest).</summary>
    public double TargetcliSeconds { get; set; } = 120;

    /// <summary>Any other program.</summary>
    public double OtherSeconds { get; set; } = 300;

    private static readonly HashSet<string> LvmPrograms = new(StringComparer.Ordinal)
    {
        "lvm", "lvcreate", "lvremove", "lvs", "lvchange", "lvconvert", "lvextend", "lvresize", "lvrename", "vgs", "vgcreate", "vgchange", "pvs", "pvcreate",
    };

    /// <summary>The deadline for <paramref name="program"/> (a name or a path).</summary>
    public TimeSpan For(string program)
    {
        var name = Path.GetFileName(program);
        var seconds = LvmPrograms.Contains(name) ? LvmSeconds : name == "targetcli" ? TargetcliSeconds : OtherSeconds;
        return TimeSpan.FromSeconds(Math.Max(0.1, seconds));
    }
}

/// <summary>An external command ran past its deadline and was killed with every process it started.</summary>
public sealed class CommandDeadlineException(string program, TimeSpan deadline, TimeSpan ran)
    : Exception($"{Path.GetFileName(program)} did not finish within its deadline of {deadline.TotalSeconds:0.#} s: killed with its process tree after {ran.TotalSeconds:0.0} s")
{
    public string Program { get; } = program;
}
