using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>What a newly registered host needs to connect: its role and the generated password.</summary>
public sealed record HostCredentials(string Host, string Role, string Password);

/// <summary>
/// Onboarding and removal of volume hosts: each host gets its own login role (member of
/// bs_agent) through the SECURITY DEFINER functions bs.register_host / bs.unregister_host, so
/// the operator needs no CREATEROLE and cannot create any other role.
/// </summary>
public sealed class HostRegistry(StoreConnection store)
{
    /// <summary>Creates the host's role, or gives an already registered host a new password.</summary>
    public Task<HostCredentials> RegisterAsync(string host, CancellationToken ct = default)
    {
        Validation.HostName(host);
        var password = Scram.NewPassword();
        var verifier = Scram.Verifier(password);
        return store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT bs.register_host(@h, @v)", conn);
            cmd.Parameters.AddWithValue("h", host);
            cmd.Parameters.AddWithValue("v", verifier);
            try
            {
                var role = (string)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
                return new HostCredentials(host, role, password);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateObject)
            {
                throw new BlockStoreException(ErrorIds.HostRoleConflict, ErrorKind.ResourceExists, e.MessageText, host, e);
            }
        }, ct);
    }

    /// <summary>The registered role of the host, or null when the host is not registered. Writes nothing.</summary>
    public Task<string?> RoleOfAsync(string host, CancellationToken ct = default)
    {
        Validation.HostName(host);
        return store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT h.role FROM bs.host_roles h WHERE h.host = @h", conn);
            cmd.Parameters.AddWithValue("h", host);
            return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
        }, ct);
    }

    /// <summary>Drops the host's role; returns its name, or null when the host was not registered.</summary>
    public Task<string?> UnregisterAsync(string host, CancellationToken ct = default)
    {
        Validation.HostName(host);
        return store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT bs.unregister_host(@h)", conn);
            cmd.Parameters.AddWithValue("h", host);
            return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
        }, ct);
    }

    /// <summary>
    /// The agent's configuration as JSON (the shape the hosts read with --ConfigFile): the
    /// operator's connection (port, database, SSL settings) with the host's own role and password
    /// instead of the operator's, and optionally another database host name.
    /// </summary>
    public string AgentConfiguration(HostCredentials credentials, string? zone, string? databaseHost = null)
    {
        var builder = LoginConnection(store.ConnectionString, credentials.Role, credentials.Password, databaseHost);
        // Hosts are not interactive: a slow handshake (SCRAM on a slow or emulated CPU, a busy
        // server) must not fail them; the cmdlets keep failing fast with their own 5 s default.
        builder.Timeout = 15;
        var agent = new Dictionary<string, string> { ["HostName"] = credentials.Host };
        if (zone is not null)
        {
            agent["Zone"] = zone;
        }

        var config = new Dictionary<string, Dictionary<string, string>>
        {
            ["BlockStore"] = new Dictionary<string, string> { ["ConnectionString"] = builder.ConnectionString },
            ["Agent"] = agent,
        };
        return JsonSerializer.Serialize(config, DataJson.Indented.DictionaryStringDictionaryStringString);
    }

    /// <summary>
    /// A registered login's connection (a host's or a tenant's): the operator's (port, database, SSL
    /// settings) with the login's role and password instead of the operator's, without the operator's
    /// passfile and application name, and optionally another database host name (the login may
    /// reach the database by another name than the operator does).
    /// </summary>
    internal static NpgsqlConnectionStringBuilder LoginConnection(string operatorConnection, string role, string password, string? databaseHost)
    {
        var builder = new NpgsqlConnectionStringBuilder(operatorConnection) { Username = role, Password = password };
        if (!string.IsNullOrWhiteSpace(databaseHost))
        {
            builder.Host = databaseHost;
        }

        builder.Remove("Passfile");
        builder.Remove("Application Name");
        return builder;
    }
}

/// <summary>
/// Passwords for host roles and their SCRAM-SHA-256 verifiers (RFC 5802/7677, stored as
/// PostgreSQL does: SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey). Sending the verifier
/// instead of the password keeps the secret out of the server, its logs and pg_stat_activity.
/// </summary>
public static class Scram
{
    private const int Iterations = 4096;

    /// <summary>256 random bits, URL-safe base64: no character needs quoting anywhere.</summary>
    public static string NewPassword() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static string Verifier(string password, byte[]? salt = null, int iterations = Iterations)
    {
        salt ??= RandomNumberGenerator.GetBytes(16);
        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, 32);
        var clientKey = HMACSHA256.HashData(salted, "Client Key"u8);
        var storedKey = SHA256.HashData(clientKey);
        var serverKey = HMACSHA256.HashData(salted, "Server Key"u8);
        return $"SCRAM-SHA-256${iterations}:{Convert.ToBase64String(salt)}${Convert.ToBase64String(storedKey)}:{Convert.ToBase64String(serverKey)}";
    }
}
