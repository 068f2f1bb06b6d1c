# The seed's API-edition sample program (shared/seed/000_02355fee3b8b6ba1.txt, "API版 / 程式碼範例"), reformatted
# from the one-line copy in the seed. Only the call information (request URL, token, endpoint, service id) is replaced,
# here by environment variables so a test can point it at the local emulator.
# `requests` is not installed in this project: the two requests lines (session with the Authorization header, and
# session.post(..., json=payload)) are ported to httpx, which has the same call shapes. Nothing else is changed.
import os

import httpx

##### 根據調試資訊,替換以下參數 #####
input_url = os.environ["SAMPLE_INPUT_URL"]
token = os.environ["SAMPLE_TOKEN"]
endpoint = os.environ["SAMPLE_ENDPOINT"]
service_name = os.environ["SAMPLE_SERVICE_NAME"]
################################

session = httpx.Client()  # was: requests.session()
session.headers.update({"Authorization": f"{token}"})

work_flow = {
    "3": {
        "inputs": {
            "seed": 156680208700286,
            "steps": 20,
            "cfg": 8,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
        "class_type": "KSampler",
        "_meta": {"title": "K採樣器"},
    },
    "4": {
        "inputs": {"ckpt_name": "3dAnimationDiffusion_v10.safetensors"},
        "class_type": "CheckpointLoaderSimple",
        "_meta": {"title": "Checkpoint載入器(簡易)"},
    },
    "5": {
        "inputs": {"width": 512, "height": 512, "batch_size": 1},
        "class_type": "EmptyLatentImage",
        "_meta": {"title": "空Latent"},
    },
    "6": {
        "inputs": {"text": "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,", "clip": ["4", 1]},
        "class_type": "CLIPTextEncode",
        "_meta": {"title": "CLIP⽂本編碼器"},
    },
    "7": {
        "inputs": {"text": "text, watermark", "clip": ["4", 1]},
        "class_type": "CLIPTextEncode",
        "_meta": {"title": "CLIP⽂本編碼器"},
    },
    "8": {
        "inputs": {"samples": ["3", 0], "vae": ["4", 2]},
        "class_type": "VAEDecode",
        "_meta": {"title": "VAE解碼"},
    },
    "9": {
        "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]},
        "class_type": "SaveImage",
        "_meta": {"title": "儲存映像"},
    },
}

for i in range(1):
    payload = work_flow
    # was: session.post(url=..., json=payload) with requests
    response = session.post(url=f'{input_url}/api_prompt?task_id=txt2img_test', json=payload)
    if response.status_code != 200:
        exit(f"send request error:{response.content}, response code:{response.status_code}")
    else:
        print(f"send {i} success, index is {response.content}")

from eas_prediction import QueueClient

sink_queue = QueueClient(f'{endpoint}', f'{service_name}')
sink_queue.set_token(f'{token}')
sink_queue.init()

watcher = sink_queue.watch(0, 1, auto_commit=False)
for x in watcher.run():
    if 'task_id' in x.tags:
        print('index {} task_id is {}'.format(x.index, x.tags['task_id']))
    print(f'index {x.index} data is {x.data}')
    sink_queue.commit(x.index)
