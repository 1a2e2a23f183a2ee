using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// What Set-, Enable- and Disable-BlockVolumeService share: an enable/disable/freeze/thaw change,
/// checked by ServiceRules before anything is written. The subclasses only say which change.
/// </summary>
public abstract class ServiceChangeCmdlet : ServiceUpdateCmdlet
{
    /// <summary>The change this invocation makes.</summary>
    protected abstract ServiceChange Change { get; }

    /// <summary>The disable reason, when the cmdlet has one.</summary>
    protected virtual string? ChangeReason => null;

    protected override string Action => ChangeReason is null ? Change.ToString() : $"{Change} (reason: {ChangeReason})";

    /// <summary>
    /// The reason is the same for every item, so a bad one ends the command before the first item
    /// and nothing is written. (Whether a change suits the service type is checked per item.)
    /// </summary>
    protected override void BeginProcessing() =>
        Terminating(() =>
        {
            Validation.DisableReason(ChangeReason);
            return 0;
        });

    protected override void Check(string service) => ServiceRules.CheckChange(service, Change, ChangeReason);

    protected override Task<BlockVolumeService?> ApplyAsync(string host, string service, CancellationToken ct) =>
        Session.Services.ChangeAsync(host, service, Change, ChangeReason, ct);
}
