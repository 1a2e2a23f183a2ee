using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Net;
using System.Net.Sockets;

namespace BlockStore.Commands.Tests;

/// <summary>
/// One runspace in this process with the built module imported (out/BlockStore/BlockStore.psd1,
/// laid out by `build.ps1 Build`), connected through $env:BLOCKSTORE_CONNECTION to a local port
/// where nothing listens. So every test runs without a lab, and a cmdlet that reaches the store
/// says StoreUnavailable: a validation error instead proves the input was refused before any
/// store access, and a -WhatIf that ends without an error proves nothing was even read.
/// </summary>
public sealed class ModuleSession : IDisposable
{
    private readonly Runspace _runspace;

    public ModuleSession()
    {
        Repo = RepoFinder.Repo;
        Manifest = Path.Combine(Repo, "out", "BlockStore", "BlockStore.psd1");
        if (!File.Exists(Manifest))
        {
            throw new InvalidOperationException(
                $"{Manifest} does not exist: these tests import the built module. Run `dotnet pwsh ./build.ps1 Build` first.");
        }

        ClosedPort = FindClosedPort();
        // The process's own variable (the module reads it on every call): the Test task sets it to
        // the lab for the other projects; this one must never reach a database.
        Environment.SetEnvironmentVariable("BLOCKSTORE_CONNECTION",
            $"Host=127.0.0.1;Port={ClosedPort};Database=blockstore;Username=nobody;Password=not-a-secret-{ClosedPort};Timeout=5");
        _runspace = RunspaceFactory.CreateRunspace(InitialSessionState.CreateDefault2());
        _runspace.Open();
        var import = Run("Import-Module -Name $args[0] -PassThru -ErrorAction Stop", Manifest);
        if (import.Error is not null || import.Output.Count != 1)
        {
            throw new InvalidOperationException($"Import-Module {Manifest} failed: {import.Error?.Exception.Message}");
        }
    }

    public string Repo { get; }

    public string Manifest { get; }

    public int ClosedPort { get; }

    /// <summary>Runs a script (positional $args from <paramref name="args"/>) and collects what it wrote and the errors it raised.</summary>
    public RunResult Run(string script, params object?[] args)
    {
        using var ps = PowerShell.Create();
        ps.Runspace = _runspace;
        ps.AddScript(script);
        foreach (var a in args)
        {
            ps.AddArgument(a);
        }

        Collection<PSObject> output = [];
        ErrorRecord? thrown = null;
        try
        {
            output = ps.Invoke();
        }
        catch (RuntimeException e)
        {
            thrown = e.ErrorRecord;
        }

        var errors = ps.Streams.Error.ToList();
        if (thrown is not null)
        {
            errors.Add(thrown);
        }

        return new RunResult(output.Select(o => o?.BaseObject).ToList(), errors, thrown is not null, ps.Streams.Warning.Select(w => w.Message).ToList());
    }

    public void Dispose() => _runspace.Dispose();

    private static int FindClosedPort()
    {
        // Bound, read, released: nothing listens there afterwards (a connect is refused at once).
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }
}

/// <summary>The repository root: the folder above the test assembly that holds BlockStore.Ps.sln.</summary>
public static class RepoFinder
{
    public static string Repo { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BlockStore.Ps.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No BlockStore.Ps.sln above {AppContext.BaseDirectory}: run the tests from the repository.");
    }
}

/// <summary>What a script wrote: its output objects, every error (non-terminating and the terminating one), its warnings.</summary>
public sealed record RunResult(IReadOnlyList<object?> Output, IReadOnlyList<ErrorRecord> Errors, bool Terminated, IReadOnlyList<string> Warnings)
{
    /// <summary>The single error, or null when there was none; more than one fails the test.</summary>
    public ErrorRecord? Error => Errors.Count switch
    {
        0 => null,
        1 => Errors[0],
        _ => throw new Xunit.Sdk.XunitException("expected at most one error, got: " + string.Join(" | ", Errors.Select(e => e.FullyQualifiedErrorId))),
    };
}

/// <summary>The tests share one runspace (and the process's environment): they run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class ModuleCollection : ICollectionFixture<ModuleSession>
{
    public const string Name = "module";
}
