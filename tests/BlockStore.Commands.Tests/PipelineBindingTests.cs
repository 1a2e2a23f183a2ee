using System.Management.Automation;

namespace BlockStore.Commands.Tests;

/// <summary>
/// Objects flow from one cmdlet to the next by property name: each module output type, piped into
/// the cmdlets that act on it, binds (no InputObjectNotBound or MissingMandatoryParameter) and the
/// receiving cmdlet goes on to its own work: a store access, which here says StoreUnavailable.
/// </summary>
[Collection(ModuleCollection.Name)]
public sealed class PipelineBindingTests(ModuleSession session)
{
    private const string Id = "11111111-1111-1111-1111-111111111111";
    private const string Volume = $"[BlockStore.Core.BlockVolume]@{{ Id = '{Id}'; Name = 'v1'; SizeGiB = 1; Project = 'p1' }}";
    private const string Snapshot = $"[BlockStore.Core.BlockVolumeSnapshot]@{{ Id = '{Id}'; Name = 's1' }}";
    // An object of the attachment's shape (binding is by property name), so the test does not depend on
    // which load context BlockVolumeAttachment lives in (it is in Core; it was briefly in Data, c8a7ab7).
    private const string Attachment = $"[pscustomobject]@{{ PSTypeName = 'BlockStore.Core.BlockVolumeAttachment'; Id = '{Id}'; VolumeId = '{Id}' }}";
    private const string Service = "[BlockStore.Core.BlockVolumeService]@{ Host = 'node-1'; Service = 'volume' }";
    private const string Project = "[BlockStore.Core.BlockStoreProject]@{ Name = 'p1' }";

    public static TheoryData<string, string> PipedToTheStore => new()
    {
        { $"{Volume} | Remove-BlockVolume -WhatIf", "RemoveBlockVolume" },
        { $"{Volume} | Resize-BlockVolume -SizeGiB 2 -WhatIf", "ResizeBlockVolume" },
        { $"{Volume} | Wait-BlockVolume -TimeoutSec 5", "WaitBlockVolume" },
        { $"{Volume} | New-BlockVolumeSnapshot -Name 's1' -WhatIf", "NewBlockVolumeSnapshot" },
        { $"{Volume} | Get-BlockVolumeEvent", "GetBlockVolumeEvent" },
        { $"{Volume} | Get-BlockVolumeAttachment", "GetBlockVolumeAttachment" },
        { $"{Volume} | Get-BlockVolumeSnapshot", "GetBlockVolumeSnapshot" },
        { $"{Volume} | New-BlockVolumeAttachment -InitiatorIqn 'iqn.2024-01.com.example:host1' -WhatIf", "NewBlockVolumeAttachment" },
        { $"{Volume} | Get-BlockStoreQuota", "GetBlockStoreQuota" },
        { $"{Snapshot} | Remove-BlockVolumeSnapshot -WhatIf", "RemoveBlockVolumeSnapshot" },
        { $"{Snapshot} | Restore-BlockVolume -WhatIf", "RestoreBlockVolume" },
        { $"{Attachment} | Remove-BlockVolumeAttachment -WhatIf", "RemoveBlockVolumeAttachment" },
        { $"{Service} | Disable-BlockVolumeService -Reason 'maintenance' -WhatIf", "DisableBlockVolumeService" },
        { $"{Service} | Enable-BlockVolumeService -WhatIf", "EnableBlockVolumeService" },
        { $"{Project} | Get-BlockStoreQuota", "GetBlockStoreQuota" },
    };

    [Theory]
    [MemberData(nameof(PipedToTheStore))]
    public void A_piped_object_binds_by_property_name(string script, string cmdlet) =>
        ErrorAssert.StoreUnavailable(session.Run(script), cmdlet, session);

    [Fact]
    public void A_piped_project_name_is_validated_like_a_typed_one()
    {
        var e = ErrorAssert.Single(session.Run("[BlockStore.Core.BlockStoreProject]@{ Name = 'P 1' } | Get-BlockStoreQuota"),
            "InvalidProjectName,BlockStore.Commands.GetBlockStoreQuotaCommand", ErrorCategory.InvalidArgument);
        Assert.Equal("P 1", e.TargetObject);
    }

    [Fact]
    public void Rows_bind_by_property_name_and_aliases_and_each_bad_row_gets_its_own_error()
    {
        // Import-Csv's rows: Name and SizeGiB, or the aliases Size and Zone. The bad rows are
        // reported one by one (non-terminating) and the good ones still go through (-WhatIf).
        var r = session.Run("""
            @(
                [pscustomobject]@{ Name = 'a'; SizeGiB = 1 }
                [pscustomobject]@{ Name = 'bad name!'; SizeGiB = 1 }
                [pscustomobject]@{ Name = 'b'; SizeGiB = 0 }
                [pscustomobject]@{ Name = 'c'; Size = 16385 }
                [pscustomobject]@{ Name = 'd'; Size = 2; Zone = 'Bad Zone' }
                [pscustomobject]@{ Name = 'e'; Size = 2; Zone = 'zone-1'; Description = 'fine' }
            ) | New-BlockVolume -WhatIf
            """);
        Assert.False(r.Terminated);
        Assert.Empty(r.Output);
        Assert.Equal(
            ["InvalidVolumeName", "InvalidVolumeSize", "InvalidVolumeSize", "InvalidAvailabilityZone"],
            r.Errors.Select(e => e.FullyQualifiedErrorId.Replace(",BlockStore.Commands.NewBlockVolumeCommand", "")));
        Assert.Equal(["bad name!", "0", "16385", "Bad Zone"], r.Errors.Select(e => e.TargetObject?.ToString()));
    }

    [Fact]
    public void A_row_without_a_mandatory_property_is_a_binding_error()
    {
        var r = session.Run("[pscustomobject]@{ SizeGiB = 1 } | New-BlockVolume -WhatIf");
        var e = Assert.Single(r.Errors);
        Assert.Equal("InputObjectMissingMandatory,BlockStore.Commands.NewBlockVolumeCommand", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category);
    }

    [Fact]
    public void An_id_that_is_not_a_guid_is_refused_by_the_binder()
    {
        var e = Assert.Single(session.Run("Remove-BlockVolume -Id 'nope' -WhatIf").Errors);
        Assert.Equal("CannotConvertArgumentNoMessage,BlockStore.Commands.RemoveBlockVolumeCommand", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category);
    }
}
