using System.Management.Automation;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// What Register- and Unregister-BlockVolumeHost share: -HostName (one name to register, several to
/// unregister, hence the type parameter), -PassThru, and for each host a checked host name, the host
/// registry and a failure reported for that host only (a bad name in a list never stops the others).
/// </summary>
public abstract class VolumeHostCmdlet<THostName> : BlockStoreCmdlet
    where THostName : class
{
    /// <summary>Tab completes registered hosts: the ones to unregister, or to register again (a new password).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Host")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostNameCompleter))]
    public THostName HostName { get; set; } = null!;

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>Runs <paramref name="action"/> for each host named by -HostName; errors are per host.</summary>
    protected void ForEachHost(Action<string, HostRegistry> action)
    {
        IEnumerable<string> hosts = HostName switch
        {
            string one => [one],
            IEnumerable<string> several => several,
            _ => [],
        };
        foreach (var host in hosts)
        {
            PerItem(() =>
            {
                Validation.HostName(host);
                action(host, new HostRegistry(Session.Current));
            });
        }
    }
}
