namespace BlockStore.Agent;

/// <summary>
/// Copies one LV's bytes into another through their device nodes with direct I/O, as Cinder's
/// LVM driver does for a thick volume from a snapshot or a thick clone (volume_utils.copy_volume:
/// dd with iflag=direct/oflag=direct): the page cache is bypassed, so the copy neither evicts the
/// host's cache nor leaves dirty pages behind, and conv=fsync makes dd return only when the bytes
/// are on the target. dd runs with an argument list; the paths come from the VG and LV names,
/// which derive from ids. Only the source's bytes are copied: a larger target keeps the rest.
/// </summary>
public sealed class BlockCopier(ICommandRunner runner, string deviceDirectory = "/dev")
{
    /// <summary>The device node of an LV (/dev/vg/lv, the udev link LVM makes when it activates it).</summary>
    public string DevicePath(string vg, string lv) => Path.Combine(deviceDirectory, vg, lv);

    /// <summary>
    /// Whether this host can block-copy: device-mapper present (its control node) and LVM
    /// activating LVs, so that an LV has a device node to read and write.
    /// </summary>
    public (bool Supported, string? Reason) Support(bool lvmActivation)
    {
        if (!lvmActivation)
        {
            return (false, "it has no device-mapper (LVM runs with activation off), so its LVs have no device nodes");
        }

        var control = Path.Combine(deviceDirectory, "mapper", "control");
        return File.Exists(control)
            ? (true, null)
            : (false, $"it has no device-mapper ({control} is missing), so its LVs have no device nodes");
    }

    /// <summary>
    /// dd if=source of=target bs=4M iflag=direct oflag=direct conv=fsync. A failure is final (an
    /// LvmException with dd's message: the volume goes to error); a deadline or a crash leaves the
    /// operation to be retried, and the retry copies again from the start.
    /// </summary>
    public async Task CopyAsync(string source, string target, CancellationToken ct)
    {
        var result = await runner.RunAsync("dd",
            [$"if={source}", $"of={target}", "bs=4M", "iflag=direct", "oflag=direct", "conv=fsync", "status=none"], ct);
        if (!result.Succeeded)
        {
            throw new LvmException($"block copy {source} -> {target} failed: dd exit {result.ExitCode}: {LvmClient.Clean(result.StdErr)}");
        }
    }
}
