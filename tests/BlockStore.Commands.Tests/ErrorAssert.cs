using System.Management.Automation;

namespace BlockStore.Commands.Tests;

internal static class ErrorAssert
{
    /// <summary>Exactly one error with this fully qualified id ('X,BlockStore.Commands.YCommand') and category; nothing written to the output.</summary>
    public static ErrorRecord Single(RunResult r, string fullyQualifiedErrorId, ErrorCategory category)
    {
        Assert.True(r.Errors.Count == 1,
            $"expected one error {fullyQualifiedErrorId}, got {r.Errors.Count}: " + string.Join(" | ", r.Errors.Select(e => $"{e.FullyQualifiedErrorId}: {e.Exception.Message}")));
        var e = r.Errors[0];
        Assert.Equal(fullyQualifiedErrorId, e.FullyQualifiedErrorId);
        Assert.Equal(category, e.CategoryInfo.Category);
        Assert.Empty(r.Output);
        return e;
    }

    /// <summary>The store was reached (and was not there): StoreUnavailable from this cmdlet, naming the unreachable database and no secret.</summary>
    public static void StoreUnavailable(RunResult r, string cmdlet, ModuleSession session)
    {
        var e = Single(r, $"StoreUnavailable,BlockStore.Commands.{cmdlet}Command", ErrorCategory.ConnectionError);
        Assert.Equal("BlockStore.Core.BlockStoreException", e.Exception.GetType().FullName);
        Assert.Contains($"127.0.0.1:{session.ClosedPort}", e.TargetObject?.ToString());
        Assert.DoesNotContain("not-a-secret", e.Exception.Message);
        Assert.DoesNotContain("not-a-secret", e.TargetObject?.ToString());
    }
}
