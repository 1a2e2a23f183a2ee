using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// Set-BlockVolumeServiceLogLevel: changes the minimum log level of services without a restart.
/// The level is stored in the service row and the host is notified; a running host applies it
/// within a second (and logs the change at Warning, so it is visible at any level).
/// </summary>
[Cmdlet(VerbsCommon.Set, "BlockVolumeServiceLogLevel", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(BlockVolumeServiceLogLevel))]
public sealed class SetBlockVolumeServiceLogLevelCommand : ServiceUpdateCmdlet
{
    private string _level = "";

    /// <summary>Checked by Validation.LogLevel (not ValidateSet) so a bad level has its own ErrorId, InvalidLogLevel.</summary>
    [Parameter(Mandatory = true, Position = 2)]
    [ArgumentCompleter(typeof(LogLevelCompleter))]
    public string Level { get; set; } = "";

    protected override string Action => $"Set log level to {_level}";

    protected override void BeginProcessing() => _level = Terminating(() => Validation.LogLevel(Level));

    protected override Task<BlockVolumeService?> ApplyAsync(string host, string service, CancellationToken ct) =>
        Session.Services.SetLogLevelAsync(host, service, _level, ct);

    protected override object Output(BlockVolumeService changed) => BlockVolumeServiceLogLevel.Of(changed);
}
