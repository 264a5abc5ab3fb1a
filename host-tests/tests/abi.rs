//! The host's proxy-wasm calls, exercised by a small guest written in
//! WebAssembly text: shared data with compare-and-swap, an HTTP callout the
//! request waits on, timers, queues, properties, metrics, configuration,
//! and imports the host does not implement.

use ward_host::replay::{self, ReplayOptions};
use ward_host::{exchange, CalloutAnswer, FilterModule, VmConfig};

const GUEST: &str = r#"
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $get_sd (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $set_sd (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick (param i32) (result i32)))
  (import "env" "proxy_register_shared_queue" (func $reg_q (param i32 i32 i32) (result i32)))
  (import "env" "proxy_enqueue_shared_queue" (func $enq (param i32 i32 i32) (result i32)))
  (import "env" "proxy_dequeue_shared_queue" (func $deq (param i32 i32 i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $cont (param i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buf (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $set_buf (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $get_prop (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_define_metric" (func $def_metric (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $inc_metric (param i32 i64) (result i32)))
  (import "env" "proxy_grpc_cancel" (func $grpc_cancel (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (global $queue (mut i32) (i32.const 0))
  (global $metric (mut i32) (i32.const 0))
  (data (i32.const 1024) "k")
  (data (i32.const 1025) "1")
  (data (i32.const 1040) "collector")
  (data (i32.const 1100) "\03\00\00\00\07\00\00\00\04\00\00\00\05\00\00\00\01\00\00\00\0a\00\00\00\09\00\00\00:method\00POST\00:path\00/\00:authority\00collector\00")
  (data (i32.const 1200) "audit")
  (data (i32.const 1210) "q")
  (data (i32.const 1220) "tick")
  (data (i32.const 1230) "ticks")
  (data (i32.const 1240) "request\00path")
  (data (i32.const 1260) "[masked]")
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param $n i32) (result i32) (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $n)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $tick (i32.const 100)))
    (drop (call $reg_q (i32.const 1210) (i32.const 1) (i32.const 2000)))
    (global.set $queue (i32.load (i32.const 2000)))
    (drop (call $def_metric (i32.const 0) (i32.const 1230) (i32.const 5) (i32.const 2004)))
    (global.set $metric (i32.load (i32.const 2004)))
    (drop (call $grpc_cancel (i32.const 1)))
    ;; an empty plugin configuration is refused
    (i32.eqz (call $get_buf (i32.const 7) (i32.const 0) (i32.const 100) (i32.const 2008) (i32.const 2012))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    ;; the first request claims "k"; later ones find it set
    (if (i32.eq (call $get_sd (i32.const 1024) (i32.const 1) (i32.const 2016) (i32.const 2020) (i32.const 2024)) (i32.const 1))
      (then (drop (call $set_sd (i32.const 1024) (i32.const 1) (i32.const 1025) (i32.const 1) (i32.const 0)))))
    (drop (call $http_call (i32.const 1040) (i32.const 9) (i32.const 1100) (i32.const 70) (i32.const 1200) (i32.const 5)
                           (i32.const 0) (i32.const 0) (i32.const 500) (i32.const 2028)))
    (i32.const 1))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_request_trailers") (param i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (if (i32.eqz (call $get_prop (i32.const 1240) (i32.const 12) (i32.const 2048) (i32.const 2052)))
      (then (drop (call $log (i32.const 2) (i32.load (i32.const 2048)) (i32.load (i32.const 2052))))))
    (i32.const 0))
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32)
    ;; hold the body until its end, then replace it
    (if (result i32) (local.get 2)
      (then (drop (call $set_buf (i32.const 1) (i32.const 0) (i32.const -1) (i32.const 1260) (i32.const 8))) (i32.const 0))
      (else (i32.const 1))))
  (func (export "proxy_on_response_trailers") (param i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_delete") (param i32))
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
    (if (i32.eqz (call $get_buf (i32.const 4) (i32.const 0) (local.get 3) (i32.const 2032) (i32.const 2036)))
      (then (drop (call $log (i32.const 2) (i32.load (i32.const 2032)) (i32.load (i32.const 2036))))))
    (drop (call $cont (i32.const 0))))
  (func (export "proxy_on_tick") (param i32)
    (drop (call $enq (global.get $queue) (i32.const 1220) (i32.const 4)))
    (drop (call $inc_metric (global.get $metric) (i64.const 1))))
  (func (export "proxy_on_queue_ready") (param i32 i32)
    (if (i32.eqz (call $deq (local.get 1) (i32.const 2040) (i32.const 2044)))
      (then (drop (call $log (i32.const 2) (i32.load (i32.const 2040)) (i32.load (i32.const 2044)))))))
)
"#;

fn module() -> FilterModule {
    FilterModule::compile(&wat::parse_str(GUEST).expect("guest assembles")).expect("guest compiles")
}

fn exchange() -> ward_host::Exchange {
    let line = concat!(
        r#"{"name":"x","request":{"path":"/v1/x?q=1","headers":[["content-type","application/json"]],"body":"{}"},"#,
        r#""response":{"headers":[["content-type","text/plain"]],"chunks":["secret ","stuff"]}}"#
    );
    exchange::parse_jsonl(line).unwrap().remove(0)
}

fn messages(out: &ward_host::Outcome) -> Vec<String> {
    out.logs.iter().map(|l| l.message.clone()).collect()
}

#[test]
fn unimplemented_imports_are_stubbed_and_configuration_is_checked() {
    let m = module();
    assert_eq!(m.abi, "proxy_abi_version_0_2_1");
    assert_eq!(m.stubbed, vec!["env.proxy_grpc_cancel".to_string()]);
    let refused = m.start(&VmConfig::new("")).err().expect("empty configuration refused");
    assert!(refused.to_string().contains("on_configure refused"), "{refused}");
    assert!(m.start(&VmConfig::new("{}")).is_ok());
}

#[test]
fn callout_answer_resumes_the_paused_request() {
    let m = module();
    let mut vm = m.start(&VmConfig::new("{}")).unwrap();
    let opts = ReplayOptions { callout_answer: Some(CalloutAnswer::status(200, b"stored")) };
    let out = replay::run(&mut vm, &exchange(), &opts);
    assert_eq!(out.error, None);
    assert_eq!(out.callouts.len(), 1);
    let c = &out.callouts[0];
    assert_eq!((c.upstream.as_str(), c.body.as_slice(), c.timeout_ms), ("collector", &b"audit"[..], 500));
    assert!(c.headers.contains(&(":authority".into(), "collector".into())));
    // The answer's body reached the guest, and the request went on.
    assert!(messages(&out).contains(&"stored".to_string()), "{:?}", messages(&out));
    assert_eq!(out.upstream_body.as_deref(), Some(&b"{}"[..]));
    // Property derived from the request headers.
    assert!(messages(&out).contains(&"/v1/x?q=1".to_string()));
    // Body buffered while paused, then replaced whole at its end.
    assert_eq!(out.body, b"[masked]");
    assert_eq!(out.status, 200);
}

#[test]
fn unanswered_callout_stalls_the_request_until_answered() {
    let m = module();
    let mut vm = m.start(&VmConfig::new("{}")).unwrap();
    let out = replay::run(&mut vm, &exchange(), &ReplayOptions { callout_answer: None });
    assert!(out.error.as_deref().unwrap_or("").contains("stalled"), "{:?}", out.error);
    let token = vm.pending_callouts()[0].token;
    vm.answer_callout(token, CalloutAnswer::status(503, b"late")).unwrap();
    assert!(vm.pending_callouts().is_empty());
    assert!(vm.take_logs().iter().any(|l| l.message == "late"));
    assert!(vm.answer_callout(token, CalloutAnswer::default()).is_err());
}

#[test]
fn shared_data_is_shared_across_vms_with_compare_and_swap() {
    let m = module();
    let mut a = m.start(&VmConfig::new("{}")).unwrap();
    let mut b = m.start(&VmConfig::new("{}")).unwrap();
    assert_eq!(m.shared().get("k"), None);
    replay::run(&mut a, &exchange(), &ReplayOptions::default());
    let (value, cas) = m.shared().get("k").unwrap();
    assert_eq!(value, b"1");
    // VM b finds the key set and leaves it alone: same CAS token.
    replay::run(&mut b, &exchange(), &ReplayOptions::default());
    assert_eq!(m.shared().get("k").unwrap().1, cas);
    assert!(m.shared().set("k", b"2".to_vec(), cas.wrapping_add(1)).is_err());
    assert!(m.shared().set("k", b"2".to_vec(), cas).is_ok());
    assert!(m.shared().set("k", b"3".to_vec(), cas).is_err(), "a used token must not match again");
}

#[test]
fn ticks_fire_per_period_and_queues_notify_their_owner() {
    let m = module();
    let mut vm = m.start(&VmConfig::new("{}")).unwrap();
    assert_eq!(vm.advance(99).unwrap(), 0);
    assert_eq!(vm.advance(250).unwrap(), 3);
    let ticks = vm.metrics().iter().find(|x| x.name == "ticks").map(|x| x.value);
    assert_eq!(ticks, Some(3));
    let logged: Vec<String> = vm.take_logs().into_iter().map(|l| l.message).collect();
    assert_eq!(logged.iter().filter(|m| *m == "tick").count(), 3, "{logged:?}");
}
