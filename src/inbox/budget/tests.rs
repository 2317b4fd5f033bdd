//! Unit tests of the byte budgets (SPEC §7.4), shedding included.

use super::*;

fn net(last: u8) -> IpAddr {
    IpAddr::from([203, 0, 113, last])
}

#[tokio::test]
async fn one_network_holds_at_most_its_share_and_others_still_fit() {
    let global = ByteBudget::new(NETWORK_SHARE_DIVISOR * STREAM_BUFFER_BYTES);
    let share = global.network_share();
    let streams: Vec<_> = (0..3).map(|_| global.for_stream(net(1), None)).collect();
    let _held = (
        global.reserve(&streams[0], share / 2).await,
        global.reserve(&streams[1], share / 2).await,
    );
    assert_eq!(global.network_in_use(net(1)), share);
    // A third stream of the same network waits; another network fits.
    let mut third = Box::pin(global.reserve(&streams[2], 1));
    assert!(futures_util::poll!(&mut third).is_pending());
    let other = global.for_stream(net(2), None);
    assert!(futures_util::poll!(Box::pin(global.reserve(&other, 1))).is_ready());
}

#[tokio::test]
async fn a_stream_waits_once_its_own_budget_or_the_global_one_is_spent() {
    let global =
        ByteBudget::with_network_share(STREAM_BUFFER_BYTES * 3 / 2, STREAM_BUFFER_BYTES * 3 / 2);
    let (a, b) = (
        global.for_stream(net(1), None),
        global.for_stream(net(1), None),
    );
    let first = global.reserve(&a, STREAM_BUFFER_BYTES / 2).await;
    let second = global.reserve(&a, STREAM_BUFFER_BYTES / 2).await;
    assert_eq!(global.in_use(), STREAM_BUFFER_BYTES);
    // Stream a is full: its next event waits until one is taken.
    let mut third = Box::pin(global.reserve(&a, 1));
    assert!(futures_util::poll!(&mut third).is_pending());
    drop(first);
    let std::task::Poll::Ready(third) = futures_util::poll!(&mut third) else {
        panic!("room was made in stream a");
    };
    // Stream b has its own room (a huge event takes all of it, alone),
    // but the event counts whole against the network and the process
    // (at most the network's share): it waits until nothing else holds.
    let mut huge = Box::pin(global.reserve(&b, 10 * STREAM_BUFFER_BYTES));
    assert!(futures_util::poll!(&mut huge).is_pending());
    drop(second);
    assert!(futures_util::poll!(&mut huge).is_pending());
    drop(third);
    let std::task::Poll::Ready(huge) = futures_util::poll!(&mut huge) else {
        panic!("everything else was let go");
    };
    assert_eq!(global.in_use(), STREAM_BUFFER_BYTES * 3 / 2);
    drop(huge);
}

#[tokio::test(start_paused = true)]
async fn a_reservation_that_waits_sheds_the_slow_readers_of_the_network_holding_most() {
    let global = ByteBudget::with_network_share(3000, 2000);
    let (most, less) = (CloseConnection::default(), CloseConnection::default());
    let a = global.for_stream(net(1), Some(most.clone()));
    let b = global.for_stream(net(2), Some(less.clone()));
    let held_a = global.reserve(&a, 2000).await;
    let _held_b = global.reserve(&b, 1000).await;
    let c = global.for_stream(net(3), None);

    let mut waiting = Box::pin(global.reserve(&c, 500));
    assert!(futures_util::poll!(&mut waiting).is_pending());
    assert_eq!(global.slow_readers_closed(), 0, "not slow yet");
    tokio::time::advance(SLOW_AFTER).await;
    assert!(futures_util::poll!(&mut waiting).is_pending());

    assert_eq!(global.slow_readers_closed(), 1);
    assert!(futures_util::poll!(Box::pin(most.closed())).is_ready());
    assert!(futures_util::poll!(Box::pin(less.closed())).is_pending());
    // The closed connection drops what it held; the wait ends.
    drop(held_a);
    assert!(futures_util::poll!(&mut waiting).is_ready());
}

#[tokio::test(start_paused = true)]
async fn a_short_network_share_sheds_only_that_networks_slow_readers() {
    let global = ByteBudget::with_network_share(10_000, 1000);
    let (mine, other) = (CloseConnection::default(), CloseConnection::default());
    let a = global.for_stream(net(1), Some(mine.clone()));
    let b = global.for_stream(net(2), Some(other.clone()));
    let _held = (
        global.reserve(&a, 1000).await,
        global.reserve(&b, 1000).await,
    );
    tokio::time::advance(SLOW_AFTER).await;

    let c = global.for_stream(net(1), None);
    assert!(global.try_reserve_page(&c, 10).is_none());
    assert!(futures_util::poll!(Box::pin(mine.closed())).is_ready());
    assert!(futures_util::poll!(Box::pin(other.closed())).is_pending());
}

/// A poll answer waits its turn for the process budget a moment instead
/// of trying once (review of session 9: while attacker streams churned, an
/// honest poller got 429 on 24 of 58 polls; freed room went to the
/// streams already waiting).
#[tokio::test(start_paused = true)]
async fn a_poll_answer_waits_its_turn_for_the_process_budget_a_moment() {
    let global = ByteBudget::with_network_share(2000, 2000);
    let a = global.for_stream(net(1), None);
    let held = global.reserve(&a, 2000).await;

    let mut answer = Box::pin(global.reserve_answer(net(2), 500, None));
    assert!(futures_util::poll!(&mut answer).is_pending());
    drop(held);
    let std::task::Poll::Ready(Some(got)) = futures_util::poll!(&mut answer) else {
        panic!("the room freed went to the waiting answer");
    };
    assert_eq!(got.bytes(), 500);
    drop(got);

    // No room within ANSWER_WAIT: none (the poll answers 429).
    let _held = global.reserve(&a, 2000).await;
    let started = tokio::time::Instant::now();
    assert!(global.reserve_answer(net(2), 500, None).await.is_none());
    assert!(started.elapsed() >= ANSWER_WAIT);
}
