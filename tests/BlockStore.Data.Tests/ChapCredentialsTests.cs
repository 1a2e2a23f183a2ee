namespace BlockStore.Data.Tests;

/// <summary>The CHAP generator (moved from Core with its RandomNumberGenerator use): needs no database.</summary>
public class ChapCredentialsTests
{
    [Fact]
    public void ChapCredentialsAreRandomAndSafeForTargetcli()
    {
        var a = ChapCredentials.Generate();
        var b = ChapCredentials.Generate();
        Assert.Equal(20, a.UserName.Length);
        Assert.Equal(16, a.Secret.Length);
        Assert.NotEqual(a.Secret, b.Secret);
        Assert.NotEqual(a.UserName, b.UserName);
        Assert.Matches("^[A-Za-z0-9]+$", a.UserName + a.Secret);
    }
}
