//! Black-box HTTP conformance of `tenured` (tokio) and `tenured-smol` against
//! docs/protocol.md sections 6 and 7.
//!
//! Every case runs once per binary: `tokio::<case>` against `tenured`,
//! `smol::<case>` against `tenured-smol` (see `support::resolve` for how the
//! binary is found, and for `TENURE_SERVER_BIN`). A missing binary, agent or
//! schemathesis is reported as ignored, or as a failure when `CI=true`
//! (tenure-testkit).

mod cases;
mod support;

/// Lists every case once per flavor; a case may add what else it needs in
/// brackets after its name.
macro_rules! conformance {
    ($($group:ident :: $case:ident $([$($need:expr),*])?),* $(,)?) => {
        fn trials(flavor: support::Flavor) -> Vec<tenure_testkit::Pending> {
            let built = support::need(flavor);
            let mut trials = vec![$(
                tenure_testkit::trial(
                    format!("{}::{}", flavor.module(), stringify!($case)),
                    &[built $($(, $need)*)?],
                    move || cases::$group::$case(&support::bin(flavor)),
                ),
            )*];
            if !support::chosen(flavor) {
                // TENURE_SERVER_BIN names one binary: the other flavor's
                // cases are not asked for, in CI or out of it.
                trials = trials.into_iter().map(tenure_testkit::Pending::ignored).collect();
            }
            trials
        }
    };
}

conformance! {
    basic::ping_answers_ok,
    basic::health_reports_node_storage_and_license,
    basic::metrics_are_prometheus_text,
    basic::unknown_path_is_404_json,
    basic::wrong_method_is_405_json,
    grants::grant_renew_release_cycle,
    grants::durations_follow_flags,
    grants::durations_follow_env_and_config_file,
    grants::unknown_grant_ids_are_404,
    grants::cores_per_server_limit,
    grants::servers_limit,
    grants::total_cores_limit,
    grants::unlicensed_environment_and_product,
    grants::regrant_replaces_old_grant,
    grants::hostnames_compare_lower_case,
    grants::environment_defaults_to_production,
    validation::name_bounds,
    validation::port_bounds,
    validation::cores_bounds,
    validation::missing_required_fields,
    validation::malformed_and_non_object_json,
    validation::content_type_rules,
    validation::body_limit_with_content_length,
    validation::body_limit_chunked,
    validation::unknown_fields_are_ignored,
    admin::admin_calls_need_the_token,
    admin::status_shows_license_and_pools,
    admin::grants_lists_held_grants,
    admin::grants_listing_pages,
    admin::revoke_then_renew_is_403_revoked,
    admin::release_instance,
    admin::usage_rows_carry_end_reason,
    admin::put_license_refuses_invalid_and_keeps_old,
    admin::put_license_installs_newer,
    audit::audit_names_the_token_action_target_and_result,
    audit::audit_pages_follow_their_links,
    roles::viewer_reads_status_grants_usage,
    reports::usage_report_json_csv_and_bad_queries,
    roles::viewer_is_forbidden_to_act,
    roles::wrong_token_is_401,
    roles::one_line_token_file_is_admin,
    components::component_calls_need_a_token,
    components::component_tokens_rotate_on_sighup,
    components::component_token_file_from_env_and_config,
    components::open_manager_warns_at_start,
    components::component_token_file_refused_at_start,
    components::slot_squatting_fails_with_tokens,
    console::console_pages_and_headers,
    console::console_actions_need_admin_and_form_token,
    console::console_cookie_is_secure_under_tls,
    console::console_usage_and_audit_pages,
    startup::too_many_managers_is_503_with_retry_after,
    startup::refuses_not_yet_valid_license,
    startup::refuses_license_from_untrusted_key,
    startup::expired_license_is_not_served,
    startup::plaintext_refused_on_non_loopback,
    startup::taken_port_is_refused_before_storage,
    startup::not_yet_valid_stored_license_is_not_served,
    settings::durations_refused_from_flags,
    settings::durations_refused_from_env,
    settings::durations_refused_from_config_file,
    settings::token_file_open_to_others_refused,
    settings::unknown_config_key_refused,
    twins::twin_agents_the_older_stops[support::AGENT],
    robustness::slow_headers_time_out,
    robustness::half_open_connections_do_not_block,
    robustness::oversized_header_block,
    robustness::garbage_bytes,
    limits::connections_per_ip_are_bounded,
    framing::http10_is_served,
    framing::ambiguous_framing_is_refused,
    framing::unambiguous_requests_are_served,
    framing::smuggled_requests_are_never_executed,
    tls::grant_over_https,
    openapi::schemathesis_agrees_with_the_document[cases::openapi::SCHEMATHESIS],
}

fn main() -> std::process::ExitCode {
    let mut all = trials(support::Flavor::Tokio);
    all.extend(trials(support::Flavor::Smol));
    tenure_testkit::run(all)
}
