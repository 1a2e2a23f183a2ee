using BlockStore.Core;
using Npgsql;

namespace BlockStore.Data;

/// <summary>What a tenant needs to connect: its project, its role and the generated password.</summary>
public sealed record TenantCredentials(string Project, string Role, string Password);

/// <summary>
/// Tenant logins (issue 13): one database login role per project, a member of bs_tenant, created
/// through the SECURITY DEFINER functions bs.register_tenant / bs.unregister_tenant as hosts are
/// (the operator needs no CREATEROLE). The role's project comes from bs.tenant_roles, so the
/// database, not the client, keeps a tenant inside its project.
/// </summary>
public sealed class TenantRegistry(StoreConnection store)
{
    /// <summary>Creates the project's tenant role, or gives it a new password when it exists.</summary>
    public Task<TenantCredentials> RegisterAsync(string project, CancellationToken ct = default)
    {
        TenancyValidation.ProjectName(project);
        var password = Scram.NewPassword();
        var verifier = Scram.Verifier(password);
        return store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT bs.register_tenant(@p, @v)", conn);
            cmd.Parameters.AddWithValue("p", project);
            cmd.Parameters.AddWithValue("v", verifier);
            try
            {
                var role = (string)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
                return new TenantCredentials(project, role, password);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateObject)
            {
                throw new BlockStoreException(ErrorIds.TenantRoleConflict, ErrorKind.ResourceExists, e.MessageText, project, e);
            }
        }, ct);
    }

    /// <summary>The tenant role of the project, or null when it has none. Writes nothing.</summary>
    public Task<string?> RoleOfAsync(string project, CancellationToken ct = default)
    {
        TenancyValidation.ProjectName(project);
        return store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT t.role FROM bs.tenant_roles t WHERE t.project = @p", conn);
            cmd.Parameters.AddWithValue("p", project);
            return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
        }, ct);
    }

    /// <summary>Drops the project's tenant role (its sessions end); its name, or null when there was none.</summary>
    public Task<string?> UnregisterAsync(string project, CancellationToken ct = default)
    {
        TenancyValidation.ProjectName(project);
        return store.RunAsync(async conn =>
        {
            await using var cmd = new NpgsqlCommand("SELECT bs.unregister_tenant(@p)", conn);
            cmd.Parameters.AddWithValue("p", project);
            return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
        }, ct);
    }

    /// <summary>The tenant's connection string (HostRegistry.LoginConnection, as for hosts).</summary>
    public string ConnectionString(TenantCredentials credentials, string? databaseHost = null) =>
        HostRegistry.LoginConnection(store.ConnectionString, credentials.Role, credentials.Password, databaseHost).ConnectionString;
}
