using System.Management.Automation;
using System.Net;
using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// Connect-BlockStore: chooses the database for this session and checks that it answers.
/// -Credential supplies user and password without putting the password in the command line.
/// </summary>
[Cmdlet(VerbsCommunications.Connect, "BlockStore")]
[OutputType(typeof(BlockStoreConnectionInfo))]
public sealed class ConnectBlockStoreCommand : BlockStoreCmdlet
{
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string ConnectionString { get; set; } = "";

    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    protected override void ProcessRecord()
    {
        Terminating(() =>
        {
            var cs = Credential is null
                ? ConnectionString
                : StoreConnection.WithCredentials(ConnectionString, Credential.UserName, Credential.GetNetworkCredential().Password);
            var store = new StoreConnection(cs, "blockstore-pwsh", prepareStatements: true);
            // DisplayName is host, port, database and user: never the password.
            WriteVerbose($"Connecting to {store.DisplayName}{(Credential is null ? "" : " with a credential")}.");
            Run(ct => store.PingAsync(ct));
            WriteVerbose($"Connected to {store.DisplayName}; the cmdlets of this session use it from now on.");
            Session.Connect(store);
            WriteObject(ConnectionInfo.Describe(store, "Connect-BlockStore"));
            return 0;
        });
    }
}

/// <summary>Get-BlockStoreConnection: which database this session uses, without any secret.</summary>
[Cmdlet(VerbsCommon.Get, "BlockStoreConnection")]
[OutputType(typeof(BlockStoreConnectionInfo))]
public sealed class GetBlockStoreConnectionCommand : BlockStoreCmdlet
{
    protected override void ProcessRecord()
    {
        var store = Terminating(() => Session.Current);
        WriteObject(ConnectionInfo.Describe(store, Session.Explicit is null ? "$env:" + Session.EnvironmentVariable : "Connect-BlockStore"));
    }
}

internal static class ConnectionInfo
{
    public static BlockStoreConnectionInfo Describe(StoreConnection store, string source)
    {
        var (host, port, database, user) = store.Describe();
        return new BlockStoreConnectionInfo { Host = host, Port = port, Database = database, Username = user, Source = source };
    }
}
