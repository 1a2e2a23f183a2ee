using System.Management.Automation;

namespace BlockStore.Commands.Tests;

/// <summary>
/// What the module's own metadata promises, checked in a runspace: the exports, [OutputType]s that
/// resolve to the module's types and have a format view whose columns exist, the bounds on every
/// -TimeoutSec and ValidateSet enforced by the binder, and help loaded for every cmdlet.
/// (The docs-side conventions are ModuleConventions.Tests.ps1's.)
/// </summary>
[Collection(ModuleCollection.Name)]
public sealed class MetadataTests(ModuleSession session)
{
    /// <summary>Output types shown as PowerShell's default list on purpose (a few fields, read one at a time).</summary>
    private static readonly string[] WithoutView =
    [
        "BlockStore.Core.BlockStoreConnectionInfo",
        "BlockStore.Core.BlockStoreTenantRegistration",
        "BlockStore.Core.BlockVolumeHostRegistration",
        "BlockStore.Core.BlockVolumeServiceLogLevel",
    ];

    private List<string> Strings(string script, params object?[] args)
    {
        var r = session.Run(script, args);
        Assert.Empty(r.Errors);
        return r.Output.Select(o => o?.ToString() ?? "").ToList();
    }

    /// <summary>CmdletsToExport of module/BlockStore.psd1, one name a line.</summary>
    private static List<string> ManifestCmdlets()
    {
        var manifest = File.ReadAllText(Path.Combine(RepoFinder.Repo, "module", "BlockStore.psd1"));
        return System.Text.RegularExpressions.Regex.Matches(manifest, @"^\s*'([A-Z][a-z]+-Block[A-Za-z]+)'\s*$", System.Text.RegularExpressions.RegexOptions.Multiline)
            .Select(m => m.Groups[1].Value).ToList();
    }

    public static TheoryData<string> Cmdlets() => new(ManifestCmdlets());

    [Fact]
    public void The_imported_module_exports_exactly_the_cmdlets_of_its_manifest()
    {
        var listed = ManifestCmdlets().Order(StringComparer.OrdinalIgnoreCase).ToList();
        Assert.True(listed.Count >= 30, $"only {listed.Count} cmdlets read from the manifest");
        Assert.Equal(listed, Strings("Get-Command -Module BlockStore -CommandType Cmdlet | ForEach-Object Name | Sort-Object"));
    }

    [Theory]
    [MemberData(nameof(Cmdlets))]
    public void Every_OutputType_is_a_module_type_with_a_view_whose_columns_exist(string cmdlet)
    {
        var types = Strings("(Get-Command -Name $args[0] -Module BlockStore).OutputType | ForEach-Object { $_.Type.FullName }", cmdlet);
        Assert.NotEmpty(types);
        foreach (var type in types)
        {
            Assert.StartsWith("BlockStore.Core.", type);
            var columns = Strings("""
                foreach ($view in @((Get-FormatData -TypeName $args[0] -PowerShellVersion $PSVersionTable.PSVersion).FormatViewDefinition)) {
                    $entries = if ($view.Control -is [System.Management.Automation.TableControl]) { $view.Control.Rows.Columns.DisplayEntry }
                        elseif ($view.Control -is [System.Management.Automation.ListControl]) { $view.Control.Entries.Items.DisplayEntry }
                    foreach ($entry in @($entries)) { "$($view.Name)|$($entry.ValueType)|$($entry.Value)" }
                }
                """, type);
            if (WithoutView.Contains(type))
            {
                Assert.Empty(columns);
                continue;
            }

            Assert.True(columns.Count > 0, $"{cmdlet} outputs {type}, which has no view in BlockStore.Format.ps1xml (or add it to {nameof(WithoutView)} with the reason)");
            // From the attribute's own Type rather than by name: a type that ever lived in the module's
            // private load context (BlockVolumeAttachment did, briefly; 16219b8, c8a7ab7) could not be
            // resolved by PowerShell from its name.
            var properties = Strings(
                "$name = $args[1]; (Get-Command -Name $args[0] -Module BlockStore).OutputType | Where-Object { $_.Type.FullName -eq $name } | ForEach-Object { $_.Type.GetProperties().Name }",
                cmdlet, type);
            Assert.NotEmpty(properties);
            foreach (var column in columns.Select(c => c.Split('|', 3)))
            {
                if (column[1] == "Property")
                {
                    Assert.True(properties.Contains(column[2]), $"view {column[0]} of {type} shows a property {column[2]} that the type does not have");
                }
                else
                {
                    // A script column: every $_.X it reads is a property of the type (nested blocks,
                    // where $_ is something else, left out).
                    var script = column[2];
                    for (var before = ""; before != script;)
                    {
                        before = script;
                        script = System.Text.RegularExpressions.Regex.Replace(script, @"\{[^{}]*\}", "");
                    }

                    foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(script, @"\$_\.(\w+)"))
                    {
                        Assert.True(properties.Contains(m.Groups[1].Value), $"view {column[0]} of {type} reads $_.{m.Groups[1].Value}, which the type does not have");
                    }
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cmdlets))]
    public void Every_TimeoutSec_refuses_zero_in_the_binder(string cmdlet)
    {
        var has = Strings("(Get-Command -Name $args[0] -Module BlockStore).Parameters.ContainsKey('TimeoutSec')", cmdlet).Single();
        if (has != "True")
        {
            Assert.Empty(Strings("(Get-Command -Name $args[0] -Module BlockStore).Parameters.ContainsKey('Wait') | Where-Object { $_ }", cmdlet));
            return; // no -Wait, no -TimeoutSec: nothing to bound
        }

        // Bound before any other argument is looked at: a validation error of the binder, not a wait or a store access.
        var e = Assert.Single(session.Run("& $args[0] -TimeoutSec 0", cmdlet).Errors);
        Assert.Equal($"ParameterArgumentValidationError,BlockStore.Commands.{cmdlet.Replace("-", "")}Command", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidData, e.CategoryInfo.Category);
    }

    [Theory]
    [MemberData(nameof(Cmdlets))]
    public void Every_cmdlet_has_help_loaded_in_process(string cmdlet)
    {
        // Get-Help's objects are property bags: read what is needed in the runspace.
        var help = Strings("$h = Get-Help -Name $args[0] -Full; \"$($h.Synopsis)\".Trim(); \"$($h.description.Text)\".Trim()", cmdlet);
        var (synopsis, description) = (help[0], help[1]);
        Assert.False(string.IsNullOrEmpty(synopsis), $"no synopsis for {cmdlet}");
        Assert.False(string.IsNullOrEmpty(description), $"no description for {cmdlet}");
        // Without the help file PowerShell makes up a synopsis from the syntax ("Get-X [[-Name] <string[]>] ...").
        Assert.DoesNotContain(cmdlet + " [", synopsis);
    }

    [Fact]
    public void A_Service_outside_its_ValidateSet_is_refused_by_the_binder()
    {
        var e = Assert.Single(session.Run("Disable-BlockVolumeService -HostName 'node-1' -Service 'bogus' -Reason 'x' -WhatIf").Errors);
        Assert.Equal("ParameterArgumentValidationError,BlockStore.Commands.DisableBlockVolumeServiceCommand", e.FullyQualifiedErrorId);
        Assert.Contains("volume", e.Exception.Message);
    }
}
