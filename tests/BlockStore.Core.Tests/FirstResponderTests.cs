using BlockStore.Core;

namespace BlockStore.Core.Tests;

/// <summary>
/// One scheduler answers each request at once (FirstResponder); the others leave it to that one
/// for the backup delay (SchedulerWakeups). A request is never left to no one.
/// </summary>
public sealed class FirstResponderTests
{
    private static readonly string[] Two = ["sched-b", "sched-a"];

    // A request sched-a answers first, and one sched-b does.
    private static readonly string Own = FirstFor("sched-a");
    private static readonly string Other = FirstFor("sched-b");

    private static string FirstFor(string scheduler) =>
        Enumerable.Range(1, 100).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .First(op => FirstResponder.IsFirst(op, Two, scheduler));

    [Fact]
    public void Exactly_one_of_the_running_schedulers_answers_each_request_and_requests_are_shared()
    {
        var answered = new Dictionary<string, int> { ["sched-a"] = 0, ["sched-b"] = 0 };
        for (var op = 1L; op <= 400; op++)
        {
            var first = Two.Where(s => FirstResponder.IsFirst(op.ToString(System.Globalization.CultureInfo.InvariantCulture), Two, s)).ToList();
            answered[Assert.Single(first)]++;
            // The list's order does not matter: the names decide.
            Assert.Equal(first, Two.Where(s => FirstResponder.IsFirst(op.ToString(System.Globalization.CultureInfo.InvariantCulture), ["sched-a", "sched-b"], s)));
        }

        Assert.All(answered.Values, n => Assert.InRange(n, 150, 250));
    }

    [Fact]
    public void Creates_each_followed_by_a_delete_are_still_shared()
    {
        // A create and its delete take consecutive ids: the creates are every other id.
        var creates = Enumerable.Range(0, 200).Select(i => (2L * i) + 1).ToList();
        var bySchedA = creates.Count(op => FirstResponder.IsFirst(op.ToString(System.Globalization.CultureInfo.InvariantCulture), Two, "sched-a"));
        Assert.InRange(bySchedA, 70, 130);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("")]
    [InlineData("not-an-id")]
    [InlineData("-5")]
    [InlineData(" 7")]
    public void A_wake_up_that_is_not_a_request_is_answered_by_every_scheduler(string payload)
    {
        Assert.All(Two, s => Assert.True(FirstResponder.IsFirst(payload, Two, s)));
        Assert.True(FirstResponder.IsFirst(payload, Two, "sched-disabled"));
    }

    [Fact]
    public void Before_the_schedulers_are_read_every_scheduler_answers_every_request()
    {
        Assert.True(FirstResponder.IsFirst("10", [], "sched-a"));
        Assert.True(FirstResponder.IsFirst("11", [], "sched-a"));
    }

    [Fact]
    public void A_scheduler_not_in_the_list_answers_no_request_first_and_a_lone_one_answers_all()
    {
        Assert.False(FirstResponder.IsFirst("10", Two, "sched-c"));
        Assert.False(FirstResponder.IsFirst("11", Two, "sched-c"));
        Assert.All(Enumerable.Range(1, 20), op => Assert.True(FirstResponder.IsFirst(op.ToString(System.Globalization.CultureInfo.InvariantCulture), ["sched-a"], "sched-a")));
    }

    [Fact]
    public void Wakeups_wait_only_when_every_request_since_the_last_pass_is_another_schedulers()
    {
        var w = new SchedulerWakeups();
        w.Know("sched-a", Two);
        Assert.False(w.OnlyOthers); // woken without a notification (the fallback poll): place at once

        Assert.True(w.Accept(Other)); // sched-b's: the worker is woken, but leaves it to sched-b
        Assert.True(w.OnlyOthers);
        w.Accept(Other);
        Assert.True(w.OnlyOthers);

        w.Accept(Own); // its own: place at once, the other's included
        Assert.False(w.OnlyOthers);

        w.Reset();
        Assert.False(w.OnlyOthers);
        w.Accept("0"); // an enabled scheduler's wake-up is everyone's
        Assert.False(w.OnlyOthers);
    }

    [Fact]
    public void Wakeups_of_a_scheduler_not_yet_told_the_list_never_wait()
    {
        var w = new SchedulerWakeups();
        w.Accept(Other);
        w.Accept(Other);
        Assert.False(w.OnlyOthers);
    }
}
