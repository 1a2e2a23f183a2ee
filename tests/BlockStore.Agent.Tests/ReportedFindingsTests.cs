using BlockStore.Agent;

namespace BlockStore.Agent.Tests;

public class ReportedFindingsTests
{
    [Fact]
    public void A_lasting_finding_is_new_once_and_again_after_it_went_away()
    {
        var findings = new ReportedFindings<string>();
        Assert.True(findings.IsNew("leak"));
        findings.Recorded("leak");
        findings.EndPass(["leak"]);

        Assert.False(findings.IsNew("leak")); // the next pass finds it again: already recorded
        findings.EndPass([]);                 // fixed by hand

        Assert.True(findings.IsNew("leak"));  // it came back: record it again
    }

    [Fact]
    public void A_finding_whose_event_was_not_written_stays_new()
    {
        var findings = new ReportedFindings<string>();
        Assert.True(findings.IsNew("leak"));
        findings.EndPass(["leak"]); // the event failed, Recorded was never called

        Assert.True(findings.IsNew("leak"));
    }
}
