using BlockStore.Core;
using BlockStore.Data;

namespace BlockStore.Commands;

/// <summary>
/// The module's connection state. Connect-BlockStore sets it; otherwise $env:BLOCKSTORE_CONNECTION
/// is used. Only the data layer holds the connection string (Npgsql needs it); nothing here prints it.
/// </summary>
internal static class Session
{
    private static StoreConnection? _connected;

    public const string EnvironmentVariable = "BLOCKSTORE_CONNECTION";

    public static void Connect(StoreConnection connection) => _connected = connection;

    /// <summary>The connection to use, or a NotConnected error that says how to connect.</summary>
    public static StoreConnection Current
    {
        get
        {
            if (_connected is not null)
            {
                return _connected;
            }

            var fromEnv = Environment.GetEnvironmentVariable(EnvironmentVariable);
            if (string.IsNullOrWhiteSpace(fromEnv))
            {
                throw new BlockStoreException(ErrorIds.NotConnected, ErrorKind.ConnectionError,
                    "Not connected to a BlockStore database. Run Connect-BlockStore -ConnectionString 'Host=...;Database=...' " +
                    "or set $env:BLOCKSTORE_CONNECTION.");
            }

            // Parsed once per value: every cmdlet call asks for the connection.
            // (A reference swap: completers read this from background threads.)
            var cached = _fromEnvironment;
            if (cached is null || cached.Text != fromEnv)
            {
                cached = new EnvironmentConnection(fromEnv, new StoreConnection(fromEnv, "blockstore-pwsh", prepareStatements: true));
                _fromEnvironment = cached;
            }

            return cached.Connection;
        }
    }

    private static EnvironmentConnection? _fromEnvironment;

    private sealed record EnvironmentConnection(string Text, StoreConnection Connection);

    public static StoreConnection? Explicit => _connected;

    public static VolumeRequests Volumes => new(Current);

    public static ServiceRegistry Services => new(Current);

    public static AttachmentRequests Attachments => new(Current);

    public static SnapshotRequests Snapshots => new(Current);

    public static ProjectRequests Projects => new(Current);

    public static VolumeTypeRequests VolumeTypes => new(Current);

    public static QuotaRequests Quotas => new(Current);
}
