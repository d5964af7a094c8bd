//! Diesel's view of the tables the migrations create.

diesel::table! {
    pools (environment, product) {
        environment -> Varchar,
        product -> Varchar,
        version -> BigInt,
        servers -> BigInt,
        total_cores -> BigInt,
    }
}

diesel::table! {
    grants (grant_id) {
        grant_id -> Varchar,
        environment -> Varchar,
        product -> Varchar,
        hostname -> Varchar,
        port -> Integer,
        cores -> Integer,
        ip -> Nullable<Varchar>,
        version -> Nullable<Varchar>,
        granted_at -> BigInt,
        last_renewed -> BigInt,
        held_until -> BigInt,
        client_skew_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    usage_history (id) {
        id -> BigInt,
        grant_id -> Varchar,
        environment -> Varchar,
        product -> Varchar,
        hostname -> Varchar,
        port -> Integer,
        cores -> Integer,
        ip -> Nullable<Varchar>,
        version -> Nullable<Varchar>,
        first_request_ms -> BigInt,
        last_request_ms -> BigInt,
        ended_ms -> BigInt,
        end_reason -> Varchar,
        license_id -> Nullable<Varchar>,
    }
}

diesel::table! {
    usage_daily (day_ms, environment, product) {
        day_ms -> BigInt,
        environment -> Varchar,
        product -> Varchar,
        peak_servers -> BigInt,
        peak_cores -> BigInt,
        server_ms -> BigInt,
        core_ms -> BigInt,
        grants_started -> BigInt,
        ended_released -> BigInt,
        ended_replaced -> BigInt,
        ended_revoked -> BigInt,
        ended_grace_exceeded -> BigInt,
        ended_license_expired -> BigInt,
        ended_admin_released -> BigInt,
        license_id -> Nullable<Varchar>,
    }
}

diesel::table! {
    usage_rollup (id) {
        id -> Integer,
        version -> BigInt,
        last_day_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    managers (node_id) {
        node_id -> Varchar,
        live_since -> BigInt,
        last_seen -> BigInt,
        clock_offset_ms -> Nullable<BigInt>,
        instance -> Nullable<Varchar>,
    }
}

diesel::table! {
    clock_state (id) {
        id -> Integer,
        version -> BigInt,
        high_water_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    clock_steps (id) {
        id -> BigInt,
        node_id -> Varchar,
        seen_ms -> BigInt,
        size_ms -> BigInt,
        until_ms -> BigInt,
    }
}

diesel::table! {
    license (id) {
        id -> Integer,
        license_id -> Varchar,
        issued_at -> BigInt,
        armoured -> Text,
        installed_at -> BigInt,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at_ms -> BigInt,
        token_name -> Varchar,
        action -> Varchar,
        target -> Varchar,
        result -> Varchar,
        detail -> Nullable<Text>,
    }
}
