//! The kernels through the C functions equal sdpa's kernels.

use super::values;
use crate::SdpaStatus;
use crate::ffi::kernels::{sdpa_dot, sdpa_dot_rows, sdpa_softmax};
use crate::ffi::{sdpa_backend, sdpa_status_message};
use crate::status::ALL;
use core::ffi::CStr;
use sdpa::kernels;
use std::vec;

#[test]
fn dot_and_dot_rows_equal_the_kernels() {
    for n in [1, 3, 16, 37] {
        let (a, b) = (values(n, 1), values(n, 2));
        let mut r = f32::NAN;
        assert_eq!(unsafe { sdpa_dot(a.as_ptr(), b.as_ptr(), n, &mut r) }, SdpaStatus::Ok);
        assert_eq!(r, kernels::dot(&a, &b));

        let rows = values(n * 5, 3);
        let (mut out, mut want) = ([f32::NAN; 5], [0.0f32; 5]);
        kernels::dot_rows(&a, &rows, &mut want);
        assert_eq!(unsafe { sdpa_dot_rows(a.as_ptr(), n, rows.as_ptr(), 5, out.as_mut_ptr()) }, SdpaStatus::Ok);
        assert_eq!(out, want);
    }
}

#[test]
fn softmax_equals_the_kernel_and_keeps_its_rules() {
    let mut x = values(33, 4);
    let mut want = x.clone();
    kernels::softmax(&mut want);
    assert_eq!(unsafe { sdpa_softmax(x.as_mut_ptr(), x.len()) }, SdpaStatus::Ok);
    assert_eq!(x, want);

    let mut masked = vec![f32::NEG_INFINITY; 5];
    assert_eq!(unsafe { sdpa_softmax(masked.as_mut_ptr(), 5) }, SdpaStatus::Ok);
    assert_eq!(masked, [0.0; 5]);
}

#[test]
fn every_status_has_a_message_and_unknown_codes_too() {
    for s in ALL {
        let message = unsafe { CStr::from_ptr(sdpa_status_message(s as i32)) };
        assert_eq!(message, s.message());
        assert!(!message.is_empty());
    }
    assert_eq!(unsafe { CStr::from_ptr(sdpa_status_message(-1)) }, c"unknown status");
    assert_eq!(unsafe { CStr::from_ptr(sdpa_status_message(ALL.len() as i32)) }, c"unknown status");
    let backend = unsafe { CStr::from_ptr(sdpa_backend()) };
    assert_eq!(backend.to_str().unwrap(), sdpa::backend().name());
}
