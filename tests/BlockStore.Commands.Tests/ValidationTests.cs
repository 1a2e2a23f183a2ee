using System.Management.Automation;

namespace BlockStore.Commands.Tests;

/// <summary>
/// Bad input is refused with its stable ErrorId, category InvalidArgument and the bad value as the
/// target, before any store access: the session's store is unreachable, so a check that ran after a
/// read or write would surface as StoreUnavailable instead. Each case also runs under -WhatIf where
/// the cmdlet supports it: -WhatIf must report bad input too, not announce a "What if".
/// </summary>
[Collection(ModuleCollection.Name)]
public sealed class ValidationTests(ModuleSession session)
{
    private const string Id = "11111111-1111-1111-1111-111111111111";

    public static TheoryData<string, string, string, string?> Refused => new()
    {
        // script, cmdlet, ErrorId, target ("" when the error names none)
        { "New-BlockVolume -Name '-bad' -SizeGiB 1", "NewBlockVolume", "InvalidVolumeName", "-bad" },
        { "New-BlockVolume -Name 'bad name!' -SizeGiB 1", "NewBlockVolume", "InvalidVolumeName", "bad name!" },
        { "New-BlockVolume -Name ('a' * 64) -SizeGiB 1", "NewBlockVolume", "InvalidVolumeName", new string('a', 64) },
        { "New-BlockVolume -Name 'ok' -SizeGiB 0", "NewBlockVolume", "InvalidVolumeSize", "0" },
        { "New-BlockVolume -Name 'ok' -SizeGiB -1", "NewBlockVolume", "InvalidVolumeSize", "-1" },
        { "New-BlockVolume -Name 'ok' -SizeGiB 16385", "NewBlockVolume", "InvalidVolumeSize", "16385" },
        { "New-BlockVolume -Name 'ok' -SizeGiB 1 -Description ('x' * 1025)", "NewBlockVolume", "InvalidDescription", null },
        { "New-BlockVolume -Name 'ok' -SizeGiB 1 -AvailabilityZone 'Not A Zone'", "NewBlockVolume", "InvalidAvailabilityZone", "Not A Zone" },
        { "New-BlockVolume -Name 'ok' -SizeGiB 1 -Project 'Bad Project'", "NewBlockVolume", "InvalidProjectName", "Bad Project" },
        { "New-BlockVolume -Name 'ok' -SizeGiB 1 -VolumeType 'bad type!'", "NewBlockVolume", "InvalidVolumeTypeName", "bad type!" },
        { "Get-BlockVolume -Status 'availble'", "GetBlockVolume", "InvalidVolumeStatus", "availble" },
        { "Get-BlockVolume -HostName 'Node_1'", "GetBlockVolume", "InvalidHostName", "Node_1" },
        { "Get-BlockVolume -Name 'v[12'", "GetBlockVolume", "InvalidWildcardPattern", null },
        { "Get-BlockVolumeType -Name 'x['", "GetBlockVolumeType", "InvalidWildcardPattern", null },
        { "Remove-BlockVolume -Name 'v[1' -Confirm:$false", "RemoveBlockVolume", "InvalidWildcardPattern", null },
        { $"Wait-BlockVolume -Id '{Id}' -Status 'avialable'", "WaitBlockVolume", "InvalidVolumeStatus", "avialable" },
        { "Wait-BlockVolume -Name 'v1' -Status 'avialable'", "WaitBlockVolume", "InvalidVolumeStatus", "avialable" },
        { $"Resize-BlockVolume -Id '{Id}' -SizeGiB 0", "ResizeBlockVolume", "InvalidVolumeSize", "0" },
        { $"Resize-BlockVolume -Id '{Id}' -SizeGiB 16385", "ResizeBlockVolume", "InvalidVolumeSize", "16385" },
        { $"New-BlockVolumeSnapshot -VolumeId '{Id}' -Name '-bad'", "NewBlockVolumeSnapshot", "InvalidSnapshotName", "-bad" },
        { "Get-BlockVolumeSnapshot -Status 'avail'", "GetBlockVolumeSnapshot", "InvalidSnapshotStatus", "avail" },
        { $"New-BlockVolumeAttachment -VolumeId '{Id}' -InitiatorIqn 'bad'", "NewBlockVolumeAttachment", "InvalidInitiatorIqn", "bad" },
        { $"New-BlockVolumeAttachment -VolumeId '{Id}' -InitiatorIqn 'iqn.2024-01.example'", "NewBlockVolumeAttachment", "InvalidInitiatorIqn", "iqn.2024-01.example" },
        { "New-BlockStoreProject -Name 'Bad'", "NewBlockStoreProject", "InvalidProjectName", "Bad" },
        { "Remove-BlockStoreProject -Name 'Bad P' -Confirm:$false", "RemoveBlockStoreProject", "InvalidProjectName", "Bad P" },
        { "Get-BlockStoreQuota -Project 'Bad P'", "GetBlockStoreQuota", "InvalidProjectName", "Bad P" },
        { "Set-BlockStoreQuota -Project 'p'", "SetBlockStoreQuota", "InvalidQuotaLimit", null },
        { "Set-BlockStoreQuota -Project 'p' -Volumes -2", "SetBlockStoreQuota", "InvalidQuotaLimit", null },
        { "Set-BlockStoreQuota -Project 'Bad P' -Volumes 2", "SetBlockStoreQuota", "InvalidProjectName", "Bad P" },
        { "New-BlockVolumeType -Name '-bad'", "NewBlockVolumeType", "InvalidVolumeTypeName", "-bad" },
        { "New-BlockVolumeType -Name 'good' -ExtraSpec @{ backend_type = 'x' }", "NewBlockVolumeType", "InvalidExtraSpec", null },
        { "New-BlockVolumeType -Name 'good' -ExtraSpec @{ iscsi = 'maybe' }", "NewBlockVolumeType", "InvalidExtraSpec", null },
        { "Set-BlockVolumeType -Name '-bad' -Description 'x'", "SetBlockVolumeType", "InvalidVolumeTypeName", "-bad" },
        { "Remove-BlockVolumeType -Name '-bad' -Confirm:$false", "RemoveBlockVolumeType", "InvalidVolumeTypeName", "-bad" },
        { "Disable-BlockVolumeService -HostName 'node-1' -Service volume -Reason ' '", "DisableBlockVolumeService", "InvalidReason", " " },
        { "Disable-BlockVolumeService -HostName 'node-1' -Service volume -Reason ('r' * 256)", "DisableBlockVolumeService", "InvalidReason", new string('r', 256) },
        { "Set-BlockVolumeServiceLogLevel -HostName 'node-1' -Service volume -Level 'Loud'", "SetBlockVolumeServiceLogLevel", "InvalidLogLevel", "Loud" },
        // A malformed host name matches no service: InvalidHostName, not a round trip ending in ServiceNotFound.
        { "Get-BlockVolumeService -HostName 'Bad_Host'", "GetBlockVolumeService", "InvalidHostName", "Bad_Host" },
        { "Get-BlockVolumeServiceLogLevel -HostName 'Bad Host'", "GetBlockVolumeServiceLogLevel", "InvalidHostName", "Bad Host" },
        { "Disable-BlockVolumeService -HostName 'Bad_Host' -Service volume -Reason 'maintenance'", "DisableBlockVolumeService", "InvalidHostName", "Bad_Host" },
        { "Enable-BlockVolumeService -HostName 'Bad Host' -Service scheduler", "EnableBlockVolumeService", "InvalidHostName", "Bad Host" },
        { "Set-BlockVolumeService -HostName 'NODE1' -Service volume -Freeze", "SetBlockVolumeService", "InvalidHostName", "NODE1" },
        { "Set-BlockVolumeServiceLogLevel -HostName 'node_1' -Service volume -Level Debug", "SetBlockVolumeServiceLogLevel", "InvalidHostName", "node_1" },
        { "Register-BlockVolumeHost -HostName 'Bad_Host'", "RegisterBlockVolumeHost", "InvalidHostName", "Bad_Host" },
        { "Register-BlockVolumeHost -HostName 'node-9' -OutFile '/nonexistent-blockstore-dir/x.json'", "RegisterBlockVolumeHost", "InvalidOutFile", null },
        { "Unregister-BlockVolumeHost -HostName 'Bad_Host' -Confirm:$false", "UnregisterBlockVolumeHost", "InvalidHostName", "Bad_Host" },
        { "Register-BlockStoreTenant -Project 'Bad P'", "RegisterBlockStoreTenant", "InvalidProjectName", "Bad P" },
        { "Unregister-BlockStoreTenant -Project 'Bad P' -Confirm:$false", "UnregisterBlockStoreTenant", "InvalidProjectName", "Bad P" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Refuses_bad_input_before_any_store_access(string script, string cmdlet, string errorId, string? target)
    {
        var e = ErrorAssert.Single(session.Run(script), $"{errorId},BlockStore.Commands.{cmdlet}Command", ErrorCategory.InvalidArgument);
        Assert.Equal("BlockStore.Core.BlockStoreException", e.Exception.GetType().FullName);
        Assert.False(string.IsNullOrWhiteSpace(e.Exception.Message));
        if (target is not null)
        {
            Assert.Equal(target, e.TargetObject?.ToString());
        }
    }

    /// <summary>The cases of cmdlets that change something (every verb but Get and Wait): they take -WhatIf.</summary>
    public static TheoryData<string, string, string, string?> RefusedChanges()
    {
        var data = new TheoryData<string, string, string, string?>();
        foreach (var row in Refused)
        {
            var (script, cmdlet, errorId, target) = ((string)row[0], (string)row[1], (string)row[2], (string?)row[3]);
            if (!script.StartsWith("Get-", StringComparison.Ordinal) && !script.StartsWith("Wait-", StringComparison.Ordinal))
            {
                data.Add(script, cmdlet, errorId, target);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(RefusedChanges))]
    public void Refuses_bad_input_under_WhatIf_too(string script, string cmdlet, string errorId, string? target)
    {
        var has = session.Run("(Get-Command -Name $args[0] -Module BlockStore).Parameters.ContainsKey('WhatIf')", script.Split(' ')[0]);
        Assert.Equal(true, has.Output.Single());

        var e = ErrorAssert.Single(session.Run(script + " -WhatIf"), $"{errorId},BlockStore.Commands.{cmdlet}Command", ErrorCategory.InvalidArgument);
        if (target is not null)
        {
            Assert.Equal(target, e.TargetObject?.ToString());
        }
    }
}
