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
public sealed class SetBlockVolumeServiceLogLevelCommand : BlockStoreCmdlet
{
    private string _level = "";

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Host")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[] HostName { get; set; } = [];

    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateSet(ServiceType.Volume, ServiceType.Scheduler)]
    public string Service { get; set; } = "";

    /// <summary>Checked by Validation.LogLevel (not ValidateSet) so a bad level has its own ErrorId, InvalidLogLevel.</summary>
    [Parameter(Mandatory = true, Position = 2)]
    [ArgumentCompleter(typeof(LogLevelCompleter))]
    public string Level { get; set; } = "";

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void BeginProcessing() => _level = Terminating(() => Validation.LogLevel(Level));

    protected override void ProcessRecord()
    {
        var service = Service.ToLowerInvariant();
        foreach (var host in HostName)
        {
            PerItem(() =>
            {
                if (!ShouldProcess($"{service} service on {host}", $"Set log level to {_level}"))
                {
                    return;
                }

                var changed = Run(ct => Session.Services.SetLogLevelAsync(host, service, _level, ct))
                    ?? throw ServiceRules.NotFound(host, service);
                if (PassThru)
                {
                    WriteObject(ServiceLookup.LogLevelOf(changed));
                }
            });
        }
    }
}
