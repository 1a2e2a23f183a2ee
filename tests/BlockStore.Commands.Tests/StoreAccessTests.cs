using System.Management.Automation;
using System.Runtime.Loader;

namespace BlockStore.Commands.Tests;

/// <summary>
/// Which cmdlets touch the store, and when. The session's database port has no listener: a cmdlet
/// that reads or writes fails with StoreUnavailable (ConnectionError, the database as target, no
/// secret); one that ends cleanly never opened a connection.
/// </summary>
[Collection(ModuleCollection.Name)]
public sealed class StoreAccessTests(ModuleSession session)
{
    private const string Id = "11111111-1111-1111-1111-111111111111";

    /// <summary>Every exported Get- cmdlet that needs no argument reads the store (from the module's metadata).</summary>
    public static TheoryData<string> GetCmdletsWithoutMandatoryParameters()
    {
        // Read from the manifest (the module's list of exports), checked against Get-Command below.
        var manifest = File.ReadAllText(Path.Combine(RepoFinder.Repo, "module", "BlockStore.psd1"));
        var data = new TheoryData<string>();
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(manifest, @"'(Get-Block[A-Za-z]+)'"))
        {
            // Get-BlockStoreConnection only reports the configured connection: it must not connect.
            if (m.Groups[1].Value != "Get-BlockStoreConnection")
            {
                data.Add(m.Groups[1].Value);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(GetCmdletsWithoutMandatoryParameters))]
    public void A_read_says_StoreUnavailable_when_the_database_does_not_answer(string cmdlet)
    {
        var mandatory = session.Run(
            "@((Get-Command -Name $args[0] -Module BlockStore).ParameterSets | Where-Object IsDefault | ForEach-Object Parameters | Where-Object IsMandatory).Count", cmdlet);
        if ((int)mandatory.Output.Single()! > 0)
        {
            // Needs an argument (Get-BlockVolumeEvent -VolumeId): given one.
            ErrorAssert.StoreUnavailable(session.Run($"{cmdlet} -VolumeId '{Id}'"), cmdlet.Replace("-", ""), session);
            return;
        }

        ErrorAssert.StoreUnavailable(session.Run(cmdlet), cmdlet.Replace("-", ""), session);
    }

    public static TheoryData<string, string> LooksUpUnderWhatIf => new()
    {
        // -WhatIf on an existing target reads it (an operator learns what would happen; a missing
        // target is reported with its NotFound error), so it needs the store.
        { $"Remove-BlockVolume -Id '{Id}' -WhatIf", "RemoveBlockVolume" },
        { "Remove-BlockVolume -Name 'v1' -WhatIf", "RemoveBlockVolume" },
        { $"Resize-BlockVolume -Id '{Id}' -SizeGiB 2 -WhatIf", "ResizeBlockVolume" },
        { $"New-BlockVolumeSnapshot -VolumeId '{Id}' -Name 'good' -WhatIf", "NewBlockVolumeSnapshot" },
        { $"Remove-BlockVolumeSnapshot -Id '{Id}' -WhatIf", "RemoveBlockVolumeSnapshot" },
        { $"Restore-BlockVolume -SnapshotId '{Id}' -WhatIf", "RestoreBlockVolume" },
        { $"New-BlockVolumeAttachment -VolumeId '{Id}' -InitiatorIqn 'iqn.2024-01.com.example:host1' -WhatIf", "NewBlockVolumeAttachment" },
        { $"Remove-BlockVolumeAttachment -Id '{Id}' -WhatIf", "RemoveBlockVolumeAttachment" },
        { "Enable-BlockVolumeService -HostName 'node-1' -Service volume -WhatIf", "EnableBlockVolumeService" },
        { "Disable-BlockVolumeService -HostName 'node-1' -Service volume -Reason 'maintenance' -WhatIf", "DisableBlockVolumeService" },
    };

    [Theory]
    [MemberData(nameof(LooksUpUnderWhatIf))]
    public void WhatIf_that_looks_the_target_up_says_StoreUnavailable(string script, string cmdlet) =>
        ErrorAssert.StoreUnavailable(session.Run(script), cmdlet, session);

    public static TheoryData<string, string> WritesWithoutWhatIf => new()
    {
        { "New-BlockVolume -Name 'v1' -SizeGiB 1", "NewBlockVolume" },
        { "New-BlockStoreProject -Name 'p1'", "NewBlockStoreProject" },
        { "New-BlockVolumeType -Name 't1' -ExtraSpec @{ backend_type = 'thin' }", "NewBlockVolumeType" },
        { "Set-BlockStoreQuota -Project 'p1' -Volumes 5", "SetBlockStoreQuota" },
    };

    [Theory]
    [MemberData(nameof(WritesWithoutWhatIf))]
    public void WhatIf_of_a_new_item_writes_nothing_and_reads_nothing(string script, string cmdlet)
    {
        // Without -WhatIf the same call goes to the store (and fails there) ...
        ErrorAssert.StoreUnavailable(session.Run(script), cmdlet, session);
        // ... with -WhatIf it ends cleanly with no output: it never opened a connection.
        var r = session.Run(script + " -WhatIf");
        Assert.Empty(r.Errors);
        Assert.Empty(r.Output);
    }

    [Fact]
    public void WhatIf_of_a_pipeline_of_new_volumes_writes_nothing()
    {
        var r = session.Run("1..3 | ForEach-Object { [pscustomobject]@{ Name = \"v-$_\"; SizeGiB = $_ } } | New-BlockVolume -WhatIf");
        Assert.Empty(r.Errors);
        Assert.Empty(r.Output);
    }

    [Fact]
    public void Get_BlockStoreConnection_names_the_configured_database_without_connecting_or_its_password()
    {
        var r = session.Run("Get-BlockStoreConnection");
        Assert.Empty(r.Errors);
        var info = Assert.Single(r.Output)!;
        Assert.Equal("BlockStore.Core.BlockStoreConnectionInfo", info.GetType().FullName);
        Assert.Equal(session.ClosedPort, (int)info.GetType().GetProperty("Port")!.GetValue(info)!);
        Assert.Equal("$env:BLOCKSTORE_CONNECTION", info.GetType().GetProperty("Source")!.GetValue(info));
        Assert.Null(info.GetType().GetProperty("Password"));
    }

    [Fact]
    public void Connect_BlockStore_says_StoreUnavailable_for_a_silent_database_and_NotConnected_for_a_malformed_string()
    {
        ErrorAssert.StoreUnavailable(
            session.Run($"Connect-BlockStore -ConnectionString 'Host=127.0.0.1;Port={session.ClosedPort};Database=blockstore;Username=nobody;Password=not-a-secret'"),
            "ConnectBlockStore", session);
        var e = ErrorAssert.Single(session.Run("Connect-BlockStore -ConnectionString 'Nonsense=1'"),
            "NotConnected,BlockStore.Commands.ConnectBlockStoreCommand", ErrorCategory.ConnectionError);
        Assert.Contains("not valid", e.Exception.Message);
        // Neither failure changed the session's connection.
        Assert.Equal("$env:BLOCKSTORE_CONNECTION", session.Run("(Get-BlockStoreConnection).Source").Output.Single());
    }

    [Fact]
    public void Without_any_connection_a_cmdlet_says_NotConnected_and_how_to_connect()
    {
        var saved = Environment.GetEnvironmentVariable("BLOCKSTORE_CONNECTION");
        try
        {
            Environment.SetEnvironmentVariable("BLOCKSTORE_CONNECTION", null);
            var e = ErrorAssert.Single(session.Run("Get-BlockVolume"), "NotConnected,BlockStore.Commands.GetBlockVolumeCommand", ErrorCategory.ConnectionError);
            Assert.Contains("Connect-BlockStore", e.Exception.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable("BLOCKSTORE_CONNECTION", saved);
        }
    }

    [Fact]
    public void The_data_engine_loads_in_the_module_private_load_context_in_process_too()
    {
        // A call that reaches the data layer loads it (and Npgsql) through the module's resolver.
        ErrorAssert.StoreUnavailable(session.Run("Get-BlockVolume"), "GetBlockVolume", session);
        var engine = Assert.Single(AssemblyLoadContext.All, c => c.Name == "BlockStore.Engine");
        var inEngine = engine.Assemblies.Select(a => a.GetName().Name).ToList();
        Assert.Contains("BlockStore.Data", inEngine);
        Assert.Contains("Npgsql", inEngine);
        Assert.DoesNotContain("BlockStore.Core", inEngine);
        var inDefault = AssemblyLoadContext.Default.Assemblies.Select(a => a.GetName().Name).ToList();
        Assert.Contains("BlockStore.Core", inDefault);
        Assert.DoesNotContain("Npgsql", inDefault);
        Assert.DoesNotContain("BlockStore.Data", inDefault);
    }
}
