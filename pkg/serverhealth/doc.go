// Package serverhealth tells an API server that is away from a request
// that failed on its own merits, so that an outage costs a controller no
// backoff.
//
// client-go's default rate limiter shares one bucket of 10 retries a second
// among all keys and doubles each failing key's backoff, so after an outage
// the backlog drains at 10 a second, and its informers back off towards 30 s
// between lists while the server is gone. This package replaces both:
//
//   - Health watches the controller's writes (Wrap). Writes that get no
//     answer, or 429/503/504, several in a row count the server as away;
//     Wait then holds the workers, letting one sync through per short,
//     growing delay as a probe, and the first answer releases them all.
//     Keys that failed that way go back to the queue without a failure of
//     their own (Unavailable tells which).
//   - HoldReads makes the informers' reads that get no answer wait for the
//     server to answer a probe (UseProbe names it), then go again, so the
//     reflectors never back off for an outage.
//   - NewRateLimiter backs off each other failure per key, with no shared
//     bucket: the client's QPS limit and the server's Priority and Fairness
//     bound the total rate.
package serverhealth
