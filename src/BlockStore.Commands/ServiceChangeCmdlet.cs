using System.Management.Automation;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// What Set-, Enable- and Disable-BlockVolumeService share: the (host, service) parameters that
/// bind from Get-BlockVolumeService output, the check of the change before anything is written,
/// ShouldProcess, and one result or one ServiceNotFound error per host, so a bad name in a list
/// never stops the others. The subclasses only say which change they make.
/// </summary>
public abstract class ServiceChangeCmdlet : BlockStoreCmdlet
{
    /// <summary>Exact host names (no wildcards: a change should name what it changes).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Host")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public string[] HostName { get; set; } = [];

    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateSet(ServiceType.Volume, ServiceType.Scheduler)]
    public string Service { get; set; } = "";

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>The change this invocation makes.</summary>
    protected abstract ServiceChange Change { get; }

    /// <summary>The disable reason, when the cmdlet has one.</summary>
    protected virtual string? ChangeReason => null;

    /// <summary>
    /// The reason is the same for every item, so a bad one ends the command before the first item
    /// and nothing is written. (A scheduler freeze depends on the item and is refused per item.)
    /// </summary>
    protected override void BeginProcessing() =>
        Terminating(() =>
        {
            Validation.DisableReason(ChangeReason);
            return 0;
        });

    protected override void ProcessRecord()
    {
        // ValidateSet accepts any casing; the rows are stored in lower case.
        var service = Service.ToLowerInvariant();
        foreach (var host in HostName)
        {
            PerItem(() =>
            {
                ServiceRules.CheckChange(service, Change, ChangeReason);
                if (!ShouldProcess($"{service} service on {host}", Action()))
                {
                    return;
                }

                var changed = Run(ct => Session.Services.ChangeAsync(host, service, Change, ChangeReason, ct))
                    ?? throw ServiceRules.NotFound(host, service);
                if (PassThru)
                {
                    WriteObject(changed);
                }
            });
        }
    }

    private string Action() => Change switch
    {
        ServiceChange.Disable when ChangeReason is not null => $"Disable (reason: {ChangeReason})",
        _ => Change.ToString(),
    };
}
