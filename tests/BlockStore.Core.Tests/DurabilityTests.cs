using BlockStore.Core;

namespace BlockStore.Core.Tests;

public class DurabilityTests
{
    [Theory]
    [InlineData("off", "")]
    [InlineData("OFF", "")]
    [InlineData("false", "")]
    [InlineData("0", "")]
    [InlineData("off", "ANY 1 (node2)")]
    public void Off_is_a_risk_and_names_it(string commit, string standbys)
    {
        var risk = Durability.CommitRisk(commit, standbys);
        Assert.NotNull(risk);
        Assert.Contains("synchronous_commit = off", risk);
        Assert.Contains("crash", risk);
    }

    [Fact]
    public void Local_is_a_risk_only_with_a_synchronous_standby()
    {
        Assert.Null(Durability.CommitRisk("local", ""));
        var risk = Durability.CommitRisk("local", "\"node2\"");
        Assert.NotNull(risk);
        Assert.Contains("failover", risk);
    }

    [Theory]
    [InlineData("on", "")]
    [InlineData("on", "\"node2\"")]
    [InlineData("remote_apply", "\"node2\"")]
    [InlineData("remote_write", "\"node2\"")]
    public void Durable_settings_are_no_risk(string commit, string standbys) =>
        Assert.Null(Durability.CommitRisk(commit, standbys));
}
